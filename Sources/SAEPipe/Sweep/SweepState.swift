import Foundation
import SAEPipeCore

/// `sweep.json` (docs/formats.md): a sweep's definition and each variant's state, rewritten
/// whole on every change. Written by the sweep runner; read by export.
public struct SweepState: Codable, Sendable {
    public static let fileName = "sweep.json"

    public struct Axis: Codable, Sendable {
        public var key: String
        /// grid, range, log_range or choice.
        public var kind: String
        public var values: [ConfigValue]
    }

    public struct Variant: Codable, Sendable {
        public var name: String
        /// The swept keys' values for this variant.
        public var overrides: ConfigValue
        public var status: SweepRunner.Status
        public var seconds: Double
        public var ran: [String]?
        public var error: String?
    }

    public var name: String
    public var configFiles: [String]
    @EncodedAsNull public var until: String?
    public var axes: [Axis]
    public var variants: [Variant]

    enum CodingKeys: String, CodingKey { case name, configFiles = "config_files", until, axes, variants }

    public static func read(directory: String) throws -> SweepState {
        let path = "\(directory)/\(fileName)"
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SAEPipeError.input("unreadable sweep state", file: path, hint: "rerun `saepipe sweep CONFIG`")
        }
        do { return try ConfigValueEncoding.decode(SweepState.self, fromJSON: text) } catch var error as SAEPipeError {
            error.file = path
            throw error
        }
    }

    /// Written in this order, values as the sweep typed them.
    public func write(directory: String) throws {
        try FileSystem.writeAtomically(try ConfigValueEncoding.json(self), to: "\(directory)/\(Self.fileName)")
    }
}
