/// How a map travels as a batch: `POST /{app}/{function}/map` with a JSON array of inputs, each
/// what `POST /{app}/{function}` takes. The daemon spreads them over the app's workers and
/// answers one outcome per input, in input order: newline-delimited JSON for HTTP callers
/// (`{"index":0,"result":…}` or `{"index":1,"error":{…}}`), call-stream records
/// (``CallStream/Kind/mapResult``, ``CallStream/Kind/mapFailure``) for Hoist's own.
public enum MapWire {
    /// The last path component of a function's map route.
    public static let pathComponent = "map"
    /// How many of the batch's inputs are sent to the workers at once (default: two chunks of up
    /// to 64 inputs per worker).
    public static let inFlightHeader = "Hoist-Max-In-Flight"
    /// `none` leaves what the function prints in the app log; call-stream callers get it otherwise.
    public static let outputHeader = "Hoist-Output"
    /// The most inputs one batch may carry; a longer map is sent as several batches.
    public static let maximumInputs = 1_000_000

    /// The key under which input `index` of the batch `key` runs, so that cancelling the batch
    /// cancels each input in flight.
    package static func inputKey(_ key: String, _ index: Int) -> String { "\(key)#\(index)" }
}
