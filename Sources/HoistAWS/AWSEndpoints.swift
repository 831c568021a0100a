/// Where each service's requests go, in the official SDKs' order of precedence
/// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html):
/// an endpoint set in code, `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the service's
/// `endpoint_url` in the profile's `services` section, the profile's `endpoint_url`, and last
/// AWS's own endpoint for the region. `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (or
/// `ignore_configured_endpoint_urls = true` in the profile) leaves only the code's.
struct AWSEndpoints: Sendable {
    var overrides: [AWSService: String] = [:]
    var variables: [String: String] = [:]
    var servicesSection: AWSConfigFile.Section?
    var profileEndpoint: String?
    var ignoresConfigured = false

    func endpoint(for service: AWSService, region: String) -> String {
        if let url = overrides[service] { return Self.trimmed(url) }
        if !ignoresConfigured {
            if let url = variables["AWS_ENDPOINT_URL_\(service.environmentSuffix)"], !url.isEmpty { return Self.trimmed(url) }
            if let url = variables["AWS_ENDPOINT_URL"], !url.isEmpty { return Self.trimmed(url) }
            if let url = servicesSection?.nested[service.configKey]?["endpoint_url"], !url.isEmpty { return Self.trimmed(url) }
            if let url = profileEndpoint, !url.isEmpty { return Self.trimmed(url) }
        }
        return service.defaultEndpoint(region: region)
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
