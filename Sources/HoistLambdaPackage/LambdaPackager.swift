/// Builds Lambda zips: a Hoist app as a self-contained `bootstrap`, and handler files with their
/// requirements.
public enum LambdaPackager {}
