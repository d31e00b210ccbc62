"""The real-client suite. A package, so that its `demo` fixture (scope "package") is torn down after this folder
and its lab does not run through the rest of the session."""
