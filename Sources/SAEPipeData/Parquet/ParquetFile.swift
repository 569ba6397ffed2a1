import Foundation
import SAEPipeCore
import SAEPipeFormats

/// One cell of a flat Parquet column.
public enum ParquetValue: Sendable, Equatable {
    case bytes([UInt8])
    case int(Int64)
    case double(Double)
    case bool(Bool)

    /// Text for BYTE_ARRAY cells; numbers and booleans as they print in JSON.
    public var text: String {
        switch self {
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        }
    }
}

/// A memory-mapped Parquet file with flat columns: footer, schema, row groups; columns are
/// decoded one row group at a time so memory stays bounded by the largest group.
public struct ParquetFile: Sendable {
    public struct Column: Sendable {
        public let name: String
        /// Physical type: 0 BOOLEAN, 1 INT32, 2 INT64, 4 FLOAT, 5 DOUBLE, 6 BYTE_ARRAY.
        public let physicalType: Int
        public let optional: Bool
    }

    struct Chunk: Sendable {
        let codec: Int
        let valueCount: Int
        let start: Int
        let end: Int
    }

    public let path: String
    public let columns: [Column]
    public let rowCount: Int
    /// Rows per row group.
    public let rowGroupSizes: [Int]
    let chunks: [[Chunk]]  // [row group][column]
    let file: MappedFile

    /// Row groups of text datasets hold thousands to a million rows; the cap keeps a crafted
    /// count (or a run-length bomb of nulls) from allocating without bound.
    static let maximumValuesPerChunk = 1 << 24
    /// Pages are kilobytes to a few MiB; a header claiming more is corrupt.
    static let maximumPageBytes = 1 << 28

    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        self.path = path
        let size = file.size
        let raw = UnsafeRawBufferPointer(start: file.bytes, count: size)
        func invalid(_ why: String) -> SAEPipeError {
            SAEPipeError.input("not a valid Parquet file: \(why)", file: path, hint: "re-download the file; it may be truncated")
        }
        guard size >= 12, Array(raw[0..<4]) == Array("PAR1".utf8), Array(raw[(size - 4)..<size]) == Array("PAR1".utf8) else {
            throw invalid("no PAR1 magic at both ends")
        }
        let footerLength = Int(file.load(UInt32.self, at: size - 8))
        guard footerLength > 0, footerLength <= size - 12 else { throw invalid("footer length \(footerLength) is out of range") }
        var reader = ThriftReader(raw, at: size - 8 - footerLength, source: path)
        let footer = try reader.structure()

        guard let schema = footer[2]?.list, let root = schema.first else { throw invalid("footer has no schema") }
        var columns: [Column] = []
        for element in schema.dropFirst() {
            if (element[5]?.int ?? 0) > 0 || element[3]?.int == 2 {
                throw SAEPipeError.input(
                    "column `\(element[4]?.string ?? "?")` is nested or repeated", file: path,
                    hint: "saepipe reads flat columns (text, numbers); select flat columns when writing the file")
            }
            columns.append(Column(name: element[4]?.string ?? "", physicalType: element[1]?.int ?? -1,
                                  optional: element[3]?.int == 1))
        }
        guard (root[5]?.int ?? columns.count) == columns.count else { throw invalid("schema children do not match its leaves") }
        self.columns = columns
        rowCount = footer[3]?.int ?? 0

        var sizes: [Int] = []
        var chunks: [[Chunk]] = []
        for group in footer[4]?.list ?? [] {
            sizes.append(group[3]?.int ?? 0)
            let groupChunks = try (group[1]?.list ?? []).map { chunk -> Chunk in
                guard let meta = chunk[3] else { throw invalid("a column chunk has no metadata") }
                let dataOffset = meta[9]?.int ?? 0
                let dictionaryOffset = meta[11]?.int ?? 0
                let start = dictionaryOffset > 0 ? min(dictionaryOffset, dataOffset) : dataOffset
                let length = meta[7]?.int ?? 0
                let metadataStart = size - 8 - footerLength
                guard start >= 4, start <= metadataStart, length >= 0, length <= metadataStart - start else {
                    throw invalid("a column chunk lies outside the file")
                }
                let valueCount = meta[5]?.int ?? 0
                guard valueCount >= 0, valueCount <= ParquetFile.maximumValuesPerChunk else {
                    throw invalid("a column chunk claims \(valueCount) values (saepipe reads up to \(ParquetFile.maximumValuesPerChunk) per row group)")
                }
                return Chunk(codec: meta[4]?.int ?? 0, valueCount: valueCount, start: start, end: start + length)
            }
            guard groupChunks.count == columns.count else { throw invalid("a row group has \(groupChunks.count) of \(columns.count) columns") }
            chunks.append(groupChunks)
        }
        rowGroupSizes = sizes
        self.chunks = chunks
    }

    public static func physicalTypeName(_ type: Int) -> String {
        switch type {
        case 0: return "BOOLEAN"
        case 1: return "INT32"
        case 2: return "INT64"
        case 3: return "INT96"
        case 4: return "FLOAT"
        case 5: return "DOUBLE"
        case 6: return "BYTE_ARRAY"
        case 7: return "FIXED_LEN_BYTE_ARRAY"
        default: return "type \(type)"
        }
    }

    public func columnIndex(_ name: String) throws -> Int {
        guard let index = columns.firstIndex(where: { $0.name == name }) else {
            throw SAEPipeError.input(
                "no column `\(name)`", file: path, hint: "columns here: " + columns.map(\.name).joined(separator: ", "))
        }
        return index
    }

    /// Every cell of one column in one row group (nil for nulls).
    public func read(column name: String, rowGroup: Int) throws -> [ParquetValue?] {
        let index = try columnIndex(name)
        var decoder = ColumnChunkDecoder(file: self, column: columns[index], chunk: chunks[rowGroup][index])
        return try decoder.decode()
    }

    /// A text column (nulls as nil) across all row groups.
    public func strings(column name: String) throws -> [String?] {
        try (0..<rowGroupSizes.count).flatMap { try read(column: name, rowGroup: $0).map { $0?.text } }
    }
}
