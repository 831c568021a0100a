import Foundation
import HoistCore

/// An OpenAPI 3.1 description of the deployed functions, built from their descriptors.
enum OpenAPIDocument {
    static func make(apps: [DaemonAPI.AppInfo], serverURL: String) -> Data {
        var paths: [String: Any] = [:]
        for app in apps {
            for function in app.functions {
                let named = function.parameters.allSatisfy { $0.name != nil }
                var bodySchemas: [[String: Any]] = []
                switch function.parameters.count {
                case 0:
                    bodySchemas.append(["type": "array", "maxItems": 0])
                case 1:
                    bodySchemas.append(schema(for: function.parameters[0].type))
                default:
                    bodySchemas.append([
                        "type": "array",
                        "prefixItems": function.parameters.map { schema(for: $0.type) },
                        "minItems": function.parameters.count,
                        "maxItems": function.parameters.count,
                    ])
                }
                if named && !function.parameters.isEmpty {
                    var properties: [String: Any] = [:]
                    for p in function.parameters { properties[p.name!] = schema(for: p.type) }
                    bodySchemas.append([
                        "type": "object",
                        "properties": properties,
                        "required": function.parameters.compactMap(\.name),
                        "additionalProperties": false,
                    ])
                }
                let errorResponse: [String: Any] = ["description": "", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
                func error(_ text: String) -> [String: Any] {
                    var e = errorResponse
                    e["description"] = text
                    return e
                }
                // `Data` and `[UInt8]` may also travel as raw bytes (RawBytes).
                let rawBytes = RawBytes.supported(by: function)
                let binary: [String: Any] = ["schema": ["type": "string", "format": "binary"]]
                var requestContent: [String: Any] = ["application/json": ["schema": bodySchemas.count == 1 ? bodySchemas[0] : ["oneOf": bodySchemas]]]
                if rawBytes.contains(.argument) { requestContent[RawBytes.mediaType] = binary }
                var resultContent: [String: Any] = ["application/json": ["schema": schema(for: function.result)]]
                if rawBytes.contains(.result) { resultContent[RawBytes.mediaType] = binary }
                paths["/\(app.name)/\(function.name)"] = [
                    "post": [
                        "operationId": "\(app.name).\(function.name)",
                        "summary": function.signature,
                        "requestBody": [
                            "required": !function.parameters.isEmpty,
                            "content": requestContent,
                        ],
                        "responses": [
                            "200": ["description": "The function's result (\(function.result))", "content": resultContent],
                            "400": error("The arguments do not fit the signature"),
                            "404": error("Unknown app or function"),
                            "413": error("The body is over the daemon's limit"),
                            "500": error("The function threw"),
                            "502": error("The worker running the call died"),
                            "503": error("No worker is ready"),
                        ],
                    ] as [String: Any],
                ]
                guard function.streams != true else { continue }
                // The batch route: many inputs in one request, one outcome a line in input order.
                paths["/\(app.name)/\(function.name)/\(MapWire.pathComponent)"] = [
                    "post": [
                        "operationId": "\(app.name).\(function.name).map",
                        "summary": "\(function.signature), once per input",
                        "requestBody": [
                            "required": true,
                            "content": ["application/json": ["schema": ["type": "array", "items": bodySchemas.count == 1 ? bodySchemas[0] : ["oneOf": bodySchemas]]]],
                        ],
                        "responses": [
                            "200": [
                                "description": "One JSON line per input, in input order: {\"index\":N,\"result\":…} or {\"index\":N,\"error\":{…}}",
                                "content": ["application/x-ndjson": ["schema": [
                                    "type": "object",
                                    "properties": ["index": ["type": "integer"], "result": schema(for: function.result), "error": ["type": "object"]],
                                    "required": ["index"],
                                ]]],
                            ],
                            "400": error("The body is not a JSON array of inputs"),
                            "404": error("Unknown app or function"),
                            "413": error("The body is over the daemon's limit"),
                        ],
                    ] as [String: Any],
                ]
            }
        }
        let document: [String: Any] = [
            "openapi": "3.1.0",
            "info": ["title": "Hoist daemon", "version": HoistVersion.current],
            "servers": [["url": serverURL]],
            "paths": paths,
            "components": [
                "schemas": [
                    "Error": [
                        "type": "object",
                        "properties": [
                            "error": [
                                "type": "object",
                                "properties": [
                                    "kind": ["type": "string"],
                                    "message": ["type": "string"],
                                    "expected": ["type": "string"],
                                    "known": ["type": "array", "items": ["type": "string"]],
                                    "remote": ["type": "object"],
                                ],
                                "required": ["kind", "message"],
                            ],
                        ],
                        "required": ["error"],
                    ],
                ],
            ],
        ]
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    /// A JSON schema for a Swift type name, as far as the name tells.
    static func schema(for type: String) -> [String: Any] {
        switch type {
        case "Int", "Int8", "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64": return ["type": "integer"]
        case "Double", "Float", "Float32", "Float64", "Decimal": return ["type": "number"]
        case "String", "Character", "URL", "UUID", "Date": return ["type": "string"]
        case "Bool": return ["type": "boolean"]
        case "Void", "()": return ["type": "null"]
        // Foundation's coders write Data as base64.
        case "Data": return ["type": "string", "contentEncoding": "base64"]
        default: break
        }
        if type.hasPrefix("Optional<"), type.hasSuffix(">") {
            return ["anyOf": [schema(for: String(type.dropFirst(9).dropLast())), ["type": "null"]]]
        }
        if type.hasPrefix("Array<"), type.hasSuffix(">") {
            return ["type": "array", "items": schema(for: String(type.dropFirst(6).dropLast()))]
        }
        if type.hasPrefix("["), type.hasSuffix("]"), !type.contains(":") {
            return ["type": "array", "items": schema(for: String(type.dropFirst().dropLast()))]
        }
        if type.hasPrefix("Dictionary<String, "), type.hasSuffix(">") {
            return ["type": "object", "additionalProperties": schema(for: String(type.dropFirst(19).dropLast()))]
        }
        return ["description": type]
    }
}
