import Foundation
import SwiftProtobuf

/// TensorBoard event files: `Event` protobufs in TFRecord framing (each record: its length as
/// a little-endian UInt64, the length's masked CRC32C, the bytes, their masked CRC32C).
public enum EventFile {
    /// One logged step: scalars by tag.
    public struct Step: Sendable, Equatable {
        public var step: Int64
        public var wallTime: Double
        public var scalars: [(tag: String, value: Float)]

        public init(step: Int64, wallTime: Double, scalars: [(tag: String, value: Float)]) {
            (self.step, self.wallTime, self.scalars) = (step, wallTime, scalars)
        }

        public static func == (a: Step, b: Step) -> Bool {
            a.step == b.step && a.wallTime == b.wallTime && a.scalars.map(\.tag) == b.scalars.map(\.tag)
                && a.scalars.map(\.value) == b.scalars.map(\.value)
        }
    }

    /// The file TensorBoard looks for: its name must contain "tfevents".
    public static let fileName = "events.out.tfevents.saepipe"

    /// A whole event file: the version record TensorBoard expects first, then one event per step.
    public static func encode(_ steps: [Step]) throws -> Data {
        var events: [Tensorflow_Event] = []
        var version = Tensorflow_Event()
        version.wallTime = steps.first?.wallTime ?? 0
        version.fileVersion = "brain.Event:2"
        events.append(version)
        for step in steps {
            var event = Tensorflow_Event()
            event.wallTime = step.wallTime
            event.step = step.step
            event.summary = Tensorflow_Summary.with { summary in
                summary.value = step.scalars.map { scalar in
                    Tensorflow_Summary.Value.with {
                        $0.tag = scalar.tag
                        $0.simpleValue = scalar.value
                    }
                }
            }
            events.append(event)
        }
        var data = Data()
        for event in events { data.append(record(try event.serializedData())) }
        return data
    }

    /// Reads an event file back (tests; a reader independent of this one is TensorBoard's own).
    public static func decode(_ data: Data) throws -> [Step] {
        var steps: [Step] = []
        var offset = 0
        let bytes = [UInt8](data)
        func uint32(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
        while offset < bytes.count {
            guard bytes.count - offset >= 16 else { throw EventFileError("truncated record at byte \(offset)") }
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
            guard uint32(offset + 8) == masked(CRC32C.checksum(bytes[offset..<(offset + 8)])) else {
                throw EventFileError("bad length checksum at byte \(offset)")
            }
            guard length <= UInt64(bytes.count - offset - 16) else { throw EventFileError("record at byte \(offset) runs past the end") }
            let start = offset + 12, end = start + Int(length)
            guard uint32(end) == masked(CRC32C.checksum(bytes[start..<end])) else { throw EventFileError("bad data checksum at byte \(offset)") }
            let event = try Tensorflow_Event(serializedBytes: Data(bytes[start..<end]))
            if case .summary(let summary) = event.what {
                steps.append(Step(step: event.step, wallTime: event.wallTime, scalars: summary.value.map { ($0.tag, $0.simpleValue) }))
            }
            offset = end + 4
        }
        return steps
    }

    static func record(_ payload: Data) -> Data {
        var out = Data()
        var length = UInt64(payload.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        out.append(lengthBytes)
        appendUInt32(masked(CRC32C.checksum([UInt8](lengthBytes)[...])), to: &out)
        out.append(payload)
        appendUInt32(masked(CRC32C.checksum([UInt8](payload)[...])), to: &out)
        return out
    }

    static func appendUInt32(_ value: UInt32, to data: inout Data) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { data.append(contentsOf: $0) }
    }

    /// TFRecord's masking: a CRC stored beside data that may itself hold CRCs.
    static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8 }
}

public struct EventFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "event file: " + description }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which TFRecord framing uses and
/// zlib does not provide.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
