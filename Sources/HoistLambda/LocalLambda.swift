/// A local Lambda: the Invoke and management API for clients, the Runtime API for bootstraps.
public enum LocalLambda {}
