import Foundation
import SAEPipeCore
import SAEPipeData
import SAEPipeFormats

/// The collected activations, memory-mapped and never loaded whole: a seeded held-out
/// validation split and shuffled training batches gathered row by row. Several sets of one
/// collect (a multi-layer SAE's layers, which share tokens and windows) can form one dataset:
/// part p's row r is row p · rowsPerPart + r, and every part holds out the same windows.
public final class ActivationDataset: @unchecked Sendable {
    /// The first part's directory (tokens and windows are the same in every part).
    public let directory: String
    /// Every part's directory, in row order.
    public let parts: [String]
    public let rowsPerPart: Int
    public let rows: Int
    public let d: Int
    public let dtype: ActivationStore.DType
    /// Applied to every gathered row: a `layerNorm` SAE trains and is evaluated on standardized rows.
    public let normalization: InputNormalization
    let files: [MappedFile]
    /// Held-out and training rows. When the set records its windows (positions.mmap and
    /// sequence offsets), whole windows are held out, chosen by seed; otherwise single rows.
    public let validation: [Int]
    public let training: [Int]
    /// The held-out windows (indices into meta.json's sequence_offsets), empty for a row-level split.
    public let validationWindows: [Int]
    /// The held-out rows grouped into the units the bootstrap resamples: whole windows when
    /// the set records them (rows of one window are not independent), else blocks of rows;
    /// a window's rows in every part form one unit.
    public let validationUnits: [[Int]]
    /// The units of one part (its rows numbered as in this dataset).
    public func validationUnits(part: Int) -> [[Int]] {
        partValidationUnits.map { $0.map { $0 + part * rowsPerPart } }
    }
    let partValidationUnits: [[Int]]
    let trainingUnitsInOrder: [[Int]]
    /// The first part's meta.json.
    public let meta: ActivationSetMeta

    /// A seeded sample of training units (windows, or blocks of rows) holding at least `rows`
    /// rows: the training-side counterpart of `validationUnits`.
    public func trainingUnits(rows: Int) -> [[Int]] {
        var units: [[Int]] = []
        var count = 0
        for unit in trainingUnitsInOrder where count < rows {
            units.append(unit)
            count += unit.count
        }
        return units
    }

    /// Opens a set with the train stage's held-out split (`ValidationSplit.none` holds nothing out).
    public convenience init(directory: String, split: ValidationSplit, seed: UInt64, normalization: InputNormalization = .none) throws {
        try self.init(directories: [directory], split: split, seed: seed, normalization: normalization)
    }

    /// Several sets with equal rows, width and windows as one dataset (see the type's note).
    public convenience init(directories: [String], split: ValidationSplit, seed: UInt64, normalization: InputNormalization = .none) throws {
        try self.init(directories: directories, validationFraction: split.fraction, maxValidationRows: split.maxRows, seed: seed,
                      normalization: normalization)
    }

    public convenience init(directory: String, validationFraction: Double, maxValidationRows: Int, seed: UInt64) throws {
        try self.init(directories: [directory], validationFraction: validationFraction, maxValidationRows: maxValidationRows, seed: seed,
                      normalization: .none)
    }

    public init(directories: [String], validationFraction: Double, maxValidationRows: Int, seed: UInt64,
                normalization: InputNormalization) throws {
        guard let directory = directories.first else { throw SAEPipeError.runtime("an activation dataset needs at least one set") }
        self.directory = directory
        parts = directories
        self.normalization = normalization
        let meta = try ActivationSetMeta.read(directory: directory)
        let metaPath = "\(directory)/\(ActivationSetMeta.fileName)"
        let (rows, d, dtype) = (meta.rows, meta.width, ActivationStore.DType(rawValue: meta.dtype)!)
        (rowsPerPart, self.d, self.dtype) = (rows, d, dtype)
        self.meta = meta
        var files: [MappedFile] = []
        for part in directories {
            let partMeta = part == directory ? meta : try ActivationSetMeta.read(directory: part)
            guard partMeta.rows == rows, partMeta.width == d, partMeta.dtype == meta.dtype,
                partMeta.windows?.sequenceOffsets == meta.windows?.sequenceOffsets
            else {
                throw SAEPipeError.input("\(part) holds \(partMeta.rows) × \(partMeta.width) \(partMeta.dtype) activations; \(directory) \(rows) × \(d) \(meta.dtype) (or their windows differ)",
                                         file: "\(part)/\(ActivationSetMeta.fileName)", hint: "the sets of one multi-layer SAE come from one collect")
            }
            let file = try MappedFile(path: "\(part)/acts.mmap")
            guard file.size == rows * d * dtype.bytes else {
                throw SAEPipeError.input("acts.mmap holds \(file.size) bytes, meta.json implies \(rows * d * dtype.bytes)",
                                         file: "\(part)/acts.mmap", hint: "rerun the collect stage")
            }
            files.append(file)
        }
        self.files = files
        self.rows = rows * directories.count
        guard rows >= 2 else { throw SAEPipeError.input("too few activations to train on (\(rows))", file: metaPath) }
        let held = min(maxValidationRows, max(1, Int((Double(rows) * validationFraction).rounded())), rows - 1)
        var generator = SplitMix64(seed: seed ^ 0x5EED_5A1E)
        // The split is made on one part's rows and repeated in every part.
        let validation: [Int], training: [Int], validationUnits: [[Int]], trainingUnitsInOrder: [[Int]]
        if let windows = try ActivationDataset.windowOfRow(directory: directory, meta: meta, rows: rows) {
            // Whole windows are held out, so evaluation sequences are unseen in training too.
            let count = (windows.max() ?? 0) + 1
            var order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
            var rowsOfWindow = [[Int]](repeating: [], count: count)
            for (row, window) in windows.enumerated() { rowsOfWindow[window].append(row) }
            var chosen: [Int] = []
            var heldRows = 0
            for window in order where heldRows < held && heldRows + rowsOfWindow[window].count < rows {
                chosen.append(window)
                heldRows += rowsOfWindow[window].count
            }
            let isHeld = Set(chosen)
            validationWindows = chosen.sorted()
            validationUnits = validationWindows.map { rowsOfWindow[$0] }
            // Training windows in the same seeded order, for a training sample the size of the held-out one.
            trainingUnitsInOrder = order.filter { !isHeld.contains($0) && !rowsOfWindow[$0].isEmpty }.map { rowsOfWindow[$0] }
            validation = chosen.flatMap { rowsOfWindow[$0] }.sorted()
            training = (0..<rows).filter { !isHeld.contains(windows[$0]) }
        } else {
            var order = Array(0..<rows)
            for i in stride(from: rows - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
            validationWindows = []
            let heldRows = Array(order[0..<held]).sorted()
            validation = heldRows
            // Without windows, blocks of 64 held-out rows stand in for them.
            validationUnits = stride(from: 0, to: heldRows.count, by: 64).map { Array(heldRows[$0..<min($0 + 64, heldRows.count)]) }
            let shuffledTraining = Array(order[held...])
            trainingUnitsInOrder = stride(from: 0, to: shuffledTraining.count, by: 64).map {
                Array(shuffledTraining[$0..<min($0 + 64, shuffledTraining.count)]).sorted()
            }
            training = Array(order[held...]).sorted()
        }
        let offsets = directories.indices.map { $0 * rows }
        func everyPart(_ local: [Int]) -> [Int] { offsets.flatMap { offset in local.map { $0 + offset } } }
        self.validation = everyPart(validation)
        self.training = everyPart(training)
        partValidationUnits = validationUnits
        self.validationUnits = validationUnits.map(everyPart)
        self.trainingUnitsInOrder = trainingUnitsInOrder.map(everyPart)
    }

    /// The same rows and split, gathered with `normalization` (what the SAE that reads them encodes with).
    public func normalized(_ normalization: InputNormalization) -> ActivationDataset {
        normalization == self.normalization ? self : ActivationDataset(copying: self, normalization: normalization)
    }

    private init(copying other: ActivationDataset, normalization: InputNormalization) {
        (directory, parts, rowsPerPart, rows, d, dtype) = (other.directory, other.parts, other.rowsPerPart, other.rows, other.d, other.dtype)
        (files, validation, training, validationWindows) = (other.files, other.validation, other.training, other.validationWindows)
        (validationUnits, partValidationUnits, trainingUnitsInOrder, meta) =
            (other.validationUnits, other.partValidationUnits, other.trainingUnitsInOrder, other.meta)
        self.normalization = normalization
    }

    /// The window each activation row belongs to, when positions.mmap and sequence offsets exist.
    static func windowOfRow(directory: String, meta: ActivationSetMeta, rows: Int) throws -> [Int]? {
        guard let offsets = meta.windows?.sequenceOffsets, offsets.count >= 2,
            FileSystem.exists("\(directory)/positions.mmap")
        else { return nil }
        let positions = try ActivationStore.readInt32("\(directory)/positions.mmap")
        guard positions.count == rows else {
            throw SAEPipeError.input("positions.mmap has \(positions.count) rows, acts.mmap \(rows)", file: directory,
                                     hint: "rerun the collect stage")
        }
        var window = 0
        return positions.map { position in
            let index = Int(position)
            // Rows usually come window by window; fall back to a search when they do not.
            if !(offsets[window] <= index && index < offsets[window + 1]) {
                var (low, high) = (0, offsets.count - 1)
                while low + 1 < high {
                    let middle = (low + high) / 2
                    if offsets[middle] <= index { low = middle } else { high = middle }
                }
                window = low
            }
            return window
        }
    }

    /// Copies the given rows, as float32, normalized as `normalization` says and multiplied by
    /// `scale`, into `out` [indices.count, d].
    public func gather(_ indices: ArraySlice<Int>, scale: Float, into out: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let out = out
        Parallel.chunks(indices.count, minimumChunk: 128) { slots in
            for slot in slots { gatherRow(indices[indices.startIndex + slot], scale: scale, into: out + slot * d) }
        }
    }

    private func gatherRow(_ index: Int, scale: Float, into target: UnsafeMutablePointer<Float>) {
        let (part, row) = index.quotientAndRemainder(dividingBy: rowsPerPart)
        let bytes = files[part].bytes
        switch dtype {
        case .float32:
            let source = (bytes + row * d * 4).assumingMemoryBound(to: Float.self)
            for j in 0..<d { target[j] = source[j] }
        case .float16:
            for j in 0..<d {
                let bits = bytes.loadUnaligned(fromByteOffset: (row * d + j) * 2, as: UInt16.self)
                target[j] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
            }
        }
        if normalization == .layerNorm { InputNormalization.standardize(target, rows: 1, d: d) }
        if scale != 1 { for j in 0..<d { target[j] *= scale } }
    }

    /// √d / E‖x‖ over up to `sample` training rows: scaling by it makes E‖x‖ = √d.
    public func normalizationScale(sample: Int = 8192) -> Float {
        let step = max(1, training.count / sample)
        var total: Double = 0, count = 0
        var row = [Float](repeating: 0, count: d)
        for index in stride(from: 0, to: training.count, by: step) {
            row.withUnsafeMutableBufferPointer { gather(training[index...index], scale: 1, into: $0.baseAddress!) }
            total += Double(row.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot())
            count += 1
        }
        let meanNorm = total / Double(max(count, 1))
        return meanNorm > 0 ? Float(Double(d).squareRoot() / meanNorm) : 1
    }
}

/// The order training rows are visited in: a fresh seeded shuffle every epoch, so a
/// position (epoch, offset) says exactly which rows come next.
public struct BatchOrder: Sendable, Equatable {
    public let seed: UInt64
    public var epoch = 0
    public var offset = 0

    public init(seed: UInt64, epoch: Int = 0, offset: Int = 0) {
        self.seed = seed
        self.epoch = epoch
        self.offset = offset
    }

    static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var order = Array(0..<count)
        var generator = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        return order
    }

    /// The next `size` training-row indices (a batch never spans two epochs).
    public mutating func next(_ size: Int, from training: [Int], cache: inout (epoch: Int, order: [Int])?) -> ArraySlice<Int> {
        if offset + size > training.count {
            epoch += 1
            offset = 0
        }
        if cache?.epoch != epoch { cache = (epoch, BatchOrder.permutation(count: training.count, seed: seed, epoch: epoch)) }
        let positions = cache!.order[offset..<min(offset + size, training.count)]
        offset += positions.count
        return ArraySlice(positions.map { training[$0] })
    }
}
