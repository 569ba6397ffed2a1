import Foundation
import SAEPipeCore
@testable import SAEPipeEvents
import SAEPipeSAE
import XCTest

/// TensorBoard event files: TFRecord framing with masked CRC32C, Event protobufs, read back by
/// this reader and by TensorBoard's own (installed by the test command).
final class EventFileTests: XCTestCase {
    func testCRC32CMatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)[...]), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)[...]), 0x8A91_36AA, "RFC 3720's 32 zero bytes")
    }

    func testEventsRoundTripAndCorruptionIsCaught() throws {
        let steps = [
            EventFile.Step(step: 1024, wallTime: 1_700_000_000.5, scalars: [("train/loss", 3.5), ("train/l0", 40)]),
            EventFile.Step(step: 2048, wallTime: 1_700_000_001.25, scalars: [("train/loss", 2.25), ("heldout/fve", 0.5)]),
        ]
        let data = try EventFile.encode(steps)
        XCTAssertEqual(try EventFile.decode(data), steps)
        var corrupted = data
        corrupted[corrupted.count - 6] ^= 0x40
        XCTAssertThrowsError(try EventFile.decode(corrupted)) { XCTAssertTrue("\($0)".contains("checksum"), "\($0)") }
        XCTAssertThrowsError(try EventFile.decode(data.prefix(data.count - 3)))
    }

    /// The tiny project's training writes its scalars as events beside metrics.csv; TensorBoard's
    /// EventAccumulator reads the same values.
    func testTrainingWritesEventsTensorBoardReads() throws {
        let (directory, config) = try makeTinyProject(self)
        _ = try runTinyProject(config, until: "train.A")
        let side = "\(directory)/outputs/tiny/train/A"
        let rows = try TrainingMetrics.read("\(side)/\(TrainingMetrics.fileName)")
        let steps = try EventFile.decode(Data(contentsOf: URL(fileURLWithPath: "\(side)/\(EventFile.fileName)")))
        XCTAssertEqual(steps.count, rows.count)
        XCTAssertEqual(steps.map(\.step), rows.map { Int64($0[.tokens]!) })
        XCTAssertEqual(steps.last!.scalars.first { $0.tag == "train/l0" }!.value, Float(rows.last![.l0]!))
        XCTAssertEqual(steps.last!.scalars.first { $0.tag == "heldout/fve" }!.value, Float(rows.last![.heldoutFVE]!))
        XCTAssertEqual(steps.map(\.wallTime), steps.map(\.wallTime).sorted(), "wall times run forward")

        let probe = try Subprocess.run("/usr/bin/env", ["python3", "-c", "import tensorboard"])
        guard probe.status == 0 else {
            throw XCTSkip("python3 has no tensorboard package (scripts/test.sh installs it): \(probe.error.suffix(200))")
        }
        let script = """
            import json, sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
            accumulator.Reload()
            print(json.dumps({tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}))
            """
        let result = try Subprocess.run("/usr/bin/env", ["python3", "-c", script, side])
        XCTAssertEqual(result.status, 0, result.error)
        let read = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as! [String: [[Double]]]
        XCTAssertEqual(read["train/loss"]?.map { Int64($0[0]) }, rows.map { Int64($0[.tokens]!) })
        XCTAssertEqual(read["train/loss"]!.map { Float($0[1]) }, rows.map { Float($0[.loss]!) })
        XCTAssertEqual(read["heldout/fve"]?.count, rows.filter { $0[.heldoutFVE] != nil }.count)
        XCTAssertEqual(Set(read.keys), ["train/loss", "train/mse", "train/l1", "train/l0", "train/fve", "train/dead_fraction", "train/lr",
                                        "train/lambda", "heldout/mse", "heldout/l0", "heldout/fve"])
    }
}
