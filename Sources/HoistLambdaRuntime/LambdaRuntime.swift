/// The Lambda bootstrap role: the Runtime API loop.
public enum LambdaRuntime {}
