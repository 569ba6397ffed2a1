import Foundation
import SAEPipeCore

/// A memory-mapped `.safetensors` file with a validated header.
public struct SafetensorsFile: Sendable {
    public let path: String
    public let tensors: [String: TensorView]
    public let metadata: [String: String]

    /// Headers larger than this are refused: real ones are kilobytes.
    static let maximumHeaderBytes = 100 << 20

    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        let path = file.path
        self.path = path
        func invalid(_ why: String) -> SAEPipeError {
            SAEPipeError.input("not a valid safetensors file: \(why)", file: path,
                               hint: "re-download or re-export the weights with safetensors")
        }
        guard file.size >= 8 else { throw invalid("shorter than its 8-byte header length") }
        let headerLength = file.load(UInt64.self, at: 0)
        guard headerLength <= UInt64(SafetensorsFile.maximumHeaderBytes), Int(headerLength) <= file.size - 8 else {
            throw invalid("header length \(headerLength) exceeds the file or the 100 MiB limit")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart
        let headerData = Data(bytes: file.bytes + 8, count: Int(headerLength))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw invalid("header is not a JSON object")
        }
        var tensors: [String: TensorView] = [:]
        var metadata: [String: String] = [:]
        var ranges: [(begin: Int, end: Int, name: String)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                for (key, item) in value as? [String: Any] ?? [:] { metadata[key] = item as? String ?? "\(item)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                let shape = (entry["shape"] as? [Any])?.compactMap({ $0 as? Int }),
                let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ $0 as? Int }),
                offsets.count == 2, shape.count == (entry["shape"] as? [Any])?.count
            else { throw invalid("entry \(name) lacks dtype, shape or data_offsets") }
            guard let type = SafetensorsFile.dtype(dtypeName) else {
                throw invalid("tensor \(name) has unsupported dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw invalid("tensor \(name) has a negative dimension") }
            guard let elements = TensorType.elementCount(shape) else { throw invalid("tensor \(name) shape overflows") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw invalid("tensor \(name) data [\(begin), \(end)) lies outside the \(dataSize)-byte data section")
            }
            guard type.byteCount(elements: elements) == end - begin else {
                throw invalid("tensor \(name): \(dtypeName) \(shape) needs \(type.byteCount(elements: elements) ?? -1) bytes, offsets give \(end - begin)")
            }
            ranges.append((begin, end, name))
            tensors[name] = TensorView(
                name: name, type: type, shape: shape, file: file, offset: dataStart + begin, byteCount: end - begin)
        }
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.begin < previous.end {
            throw invalid("tensors \(previous.name) and \(next.name) overlap")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    static func dtype(_ name: String) -> TensorType? {
        switch name {
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        case "F64": return .f64
        case "BOOL": return .bool
        case "U8": return .u8
        case "I8": return .i8
        case "I16": return .i16
        case "I32": return .i32
        case "I64": return .i64
        default: return nil
        }
    }
}

/// The weights of an HF-format model directory: one `model.safetensors` or the
/// shards named by `model.safetensors.index.json`.
public struct SafetensorsWeights: Sendable {
    public let directory: String
    public let tensors: [String: TensorView]

    public init(directory: String) throws {
        self.directory = directory
        let index = "\(directory)/model.safetensors.index.json"
        let single = "\(directory)/model.safetensors"
        if FileSystem.exists(index) {
            guard let data = FileManager.default.contents(atPath: index),
                let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                let weightMap = json["weight_map"] as? [String: String]
            else {
                throw SAEPipeError.input("shard index has no weight_map", file: index)
            }
            var tensors: [String: TensorView] = [:]
            for shard in Set(weightMap.values).sorted() {
                let file = try SafetensorsFile(path: "\(directory)/\(shard)")
                for (name, tensor) in file.tensors where weightMap[name] == shard { tensors[name] = tensor }
            }
            for name in weightMap.keys where tensors[name] == nil {
                throw SAEPipeError.input("the index names \(name) in \(weightMap[name]!), which does not hold it", file: index)
            }
            self.tensors = tensors
        } else if FileSystem.exists(single) {
            tensors = try SafetensorsFile(path: single).tensors
        } else {
            try SafetensorsWeights.refusePickles(in: directory)
            throw SAEPipeError.input(
                "no model.safetensors or model.safetensors.index.json", file: directory,
                hint: "saepipe reads safetensors and GGUF weights")
        }
    }

    /// Pickled checkpoints can run code when loaded; saepipe never unpickles them.
    static func refusePickles(in directory: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if let pickle = names.first(where: { $0.hasSuffix(".bin") || $0.hasSuffix(".pt") || $0.hasSuffix(".pth") }) {
            throw SAEPipeError.input(
                "\(pickle) is a pickled PyTorch checkpoint, which saepipe never loads (unpickling can run arbitrary code)",
                file: "\(directory)/\(pickle)",
                hint: "use the model's model.safetensors (most Hub repos have one; otherwise convert with `safetensors.torch.save_file`)")
        }
    }

    public func tensor(_ name: String) throws -> TensorView {
        guard let tensor = tensors[name] else {
            throw SAEPipeError.input("the weights have no tensor \(name)")
        }
        return tensor
    }
}
