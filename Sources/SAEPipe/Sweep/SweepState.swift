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
        try JSONFile.read(SweepState.self, from: "\(directory)/\(fileName)", hint: "rerun `saepipe sweep CONFIG`")
    }

    public func write(directory: String) throws { try JSONFile.write(self, to: "\(directory)/\(Self.fileName)", sortedKeys: false) }
}
