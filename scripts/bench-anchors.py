"""The anchors' SAE trainers on saepipe's exact split, for `saepipe bench quality --compare`.

  saepipe bench quality --acts DIR --split-out split.json --json saepipe.json …
  python scripts/bench-anchors.py --acts DIR --split split.json --json anchors.json
  saepipe bench quality --acts DIR --runs saepipe.json --compare anchors.json

Each tool trains with its own code from PyPI (SAELens `sae-lens`, EleutherAI `eai-sparsify`,
`dictionary-learning`) on saepipe's training rows, scaled so that E‖x‖ = √d as saepipe's train stage
does (FVE does not depend on the scale); each SAE is then scored on saepipe's held-out rows the way
saepipe scores its own: FVE = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², L0 = mean active features per row with the
tool's inference encoder, dead = share of features that never fire on those rows, MSE per element
in the activations' units. The output is the JSON `bench quality --json` writes.

Settings scaled to a budget of about a thousand steps (each tool's defaults assume 10–100× more):
dead-feature windows of 100k tokens for the AuxK losses; dictionary_learning's warm-up and
threshold start at 100 steps (its defaults of 1000 would never set the inference threshold) and
its learning-rate decay over the last 20%. Learning rates are swept with --lr; the frontier over
all of a tool's runs is its tuned frontier.

Runs already in --json (same tool, level, lr, tokens, features and --seed) are skipped, so a long
measurement can be resumed; another --seed (initialization and batch order, same split) adds a
repeat, and `bench quality --compare` averages a configuration's seeds and gives their spread. Needs `pip install sae-lens eai-sparsify schedulefree natsort` and
`pip install --no-deps dictionary-learning` (its package imports nnsight, which this script stubs).
"""
import argparse
import json
import os
import sys
import tempfile
import time
import types

import numpy as np
import torch

TOOLS = ["saelens-standard", "saelens-batchtopk", "sparsify-topk", "dictlearn-batchtopk"]
DEAD_WINDOW_TOKENS = 100_000


def load_rows(acts_dir, split_path):
    meta = json.load(open(f"{acts_dir}/meta.json"))
    split = json.load(open(split_path))
    if meta["dtype"] != "float32":
        raise SystemExit(f"{acts_dir}: this script reads float32 activations, not {meta['dtype']}")
    rows, width = meta["shape"]
    if [split["rows"], split["width"]] != [rows, width]:
        raise SystemExit(f"{split_path} is the split of a {split['rows']}×{split['width']} set, {acts_dir} holds {rows}×{width}")
    acts = np.array(np.memmap(f"{acts_dir}/acts.mmap", dtype=np.float32, mode="r", shape=(rows, width)))
    held = np.zeros(rows, dtype=bool)
    for start, end in split["held_out_ranges"]:
        held[start:end] = True
    training, held_out = acts[~held], acts[held]
    # saepipe's normalization: E‖x‖ = √d over the training rows.
    scale = float(np.sqrt(width) / np.linalg.norm(training[:: max(1, len(training) // 8192)], axis=1).mean())
    return torch.from_numpy(training * scale), torch.from_numpy(held_out * scale), scale


def batches(training, batch, steps, seed):
    """Shuffled passes over the training rows, `steps` batches in all."""
    generator = np.random.default_rng(seed)
    order, position = generator.permutation(len(training)), 0
    for _ in range(steps):
        if position + batch > len(order):
            order, position = generator.permutation(len(training)), 0
        yield training[order[position:position + batch]]
        position += batch


@torch.no_grad()
def score(encode_decode, held_out, scale, features, batch=4096):
    squared_error, active = 0.0, 0.0
    fired = torch.zeros(features, dtype=torch.bool)
    for start in range(0, len(held_out), batch):
        x = held_out[start:start + batch]
        f, x_hat = encode_decode(x)
        squared_error += float(((x_hat - x).double() ** 2).sum())
        active += float((f != 0).double().sum())
        fired |= (f != 0).any(dim=0)
    variance = float(((held_out.double() - held_out.double().mean(0)) ** 2).sum())
    n, d = held_out.shape
    return {"fve": 1 - squared_error / variance, "l0": active / n, "dead_fraction": float((~fired).double().mean()),
            "mse": squared_error / (n * d) / scale ** 2}


def train_saelens(architecture, level, lr, training, d_sae, batch, steps, seed, schedule):
    from sae_lens import SAE, BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig, StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer
    torch.manual_seed(seed)
    common = dict(d_in=training.shape[1], d_sae=d_sae, dtype="float32", device="cpu")
    if architecture == "standard":
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=level, **common))
    else:
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=int(level), **common))
    cfg = SAETrainerConfig(
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False, total_training_samples=steps * batch, device="cpu",
        autocast=False, lr=lr, lr_end=lr, lr_scheduler_name="constant",
        lr_warm_up_steps=schedule["warmup_steps"], adam_beta1=0.9, adam_beta2=0.999, lr_decay_steps=schedule["decay_steps"], n_restart_cycles=1, train_batch_size_samples=batch, dead_feature_window=DEAD_WINDOW_TOKENS // batch,
        feature_sampling_window=2000, logger=LoggingConfig(log_to_wandb=False))
    started = time.perf_counter()
    trained = SAETrainer(cfg, sae, batches(training, batch, steps, seed)).fit()
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory:
        trained.save_inference_model(directory)  # BatchTopK becomes a JumpReLU with its learned threshold here
        inference = SAE.load_from_disk(directory, device="cpu")

    def encode_decode(x):
        f = inference.encode(x)
        return f, inference.decode(f)
    return encode_decode, seconds


def train_sparsify(level, lr, training, d_sae, batch, steps, seed):
    os.environ["SPARSIFY_DISABLE_TRITON"] = "1"  # its Triton decoder needs a GPU; the eager one runs on the CPU
    from schedulefree import ScheduleFreeWrapper
    from sparsify import SparseCoder, SparseCoderConfig
    from sparsify.sign_sgd import SignSGD
    torch.manual_seed(seed)
    sae = SparseCoder(training.shape[1], SparseCoderConfig(num_latents=d_sae, k=int(level)), device="cpu", dtype=torch.float32)
    # sparsify's default optimizer and its trainer's step: b_dec at the first batch's mean, unit-norm decoder,
    # FVU + AuxK (α 1/32, OpenAI's), gradient parallel to the decoder rows removed.
    optimizer = ScheduleFreeWrapper(SignSGD([dict(params=sae.parameters(), lr=lr)]), momentum=0.95)
    optimizer.train()
    since_fired = torch.zeros(d_sae, dtype=torch.long)
    started = time.perf_counter()
    for step, x in enumerate(batches(training, batch, steps, seed)):
        if step == 0:
            sae.b_dec.data = x.mean(0)
        sae.set_decoder_norm_to_unit_norm()
        out = sae(x, dead_mask=since_fired > DEAD_WINDOW_TOKENS)
        (out.fvu + out.auxk_loss / 32).backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        optimizer.step()
        optimizer.zero_grad()
        since_fired += len(x)
        since_fired[out.latent_indices.flatten()] = 0
    optimizer.eval()  # schedule-free: evaluate at the averaged weights
    seconds = time.perf_counter() - started

    def encode_decode(x):
        top_acts, top_indices, _ = sae.encode(x)
        f = torch.zeros(len(x), d_sae).scatter_(1, top_indices, top_acts)
        return f, sae.decode(top_acts, top_indices)
    return encode_decode, seconds


def train_dictionary_learning(level, lr, training, d_sae, batch, steps, seed):
    sys.modules.setdefault("nnsight", types.SimpleNamespace(LanguageModel=object))  # imported by the package, unused here
    from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer
    warmup = min(100, steps // 10)
    trainer = BatchTopKTrainer(steps=steps, activation_dim=training.shape[1], dict_size=d_sae, k=int(level), layer=0,
                               lm_name="saepipe-bench", lr=lr, warmup_steps=warmup, decay_start=max(warmup + 1, int(0.8 * steps)),
                               threshold_start_step=warmup, seed=seed, device="cpu")
    trainer.dead_feature_threshold = DEAD_WINDOW_TOKENS
    started = time.perf_counter()
    for step, x in enumerate(batches(training, batch, steps, seed)):
        trainer.update(step, x)
    seconds = time.perf_counter() - started

    def encode_decode(x):
        f = trainer.ae.encode(x)  # inference: the learned threshold, one token at a time
        return f, trainer.ae.decode(f)
    return encode_decode, seconds


def train(tool, level, lr, training, d_sae, batch, steps, seed, schedule):
    if tool.startswith("saelens-"):
        return train_saelens(tool.removeprefix("saelens-"), level, lr, training, d_sae, batch, steps, seed, schedule)
    if tool == "sparsify-topk":
        return train_sparsify(level, lr, training, d_sae, batch, steps, seed)
    return train_dictionary_learning(level, lr, training, d_sae, batch, steps, seed)


def numbers(text, kind):
    return [kind(value) for value in text.split(",") if value.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acts", required=True, help="the activation set (acts.mmap + meta.json)")
    parser.add_argument("--split", required=True, help="the file `saepipe bench quality --split-out` wrote")
    parser.add_argument("--json", required=True, help="runs are appended here as they finish")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    parser.add_argument("--k", default="16,32,64,128", help="levels of the TopK/BatchTopK tools")
    parser.add_argument("--l1", default="1,3,10", help="λ levels of saelens-standard")
    parser.add_argument("--lr", default=None, help="comma-separated learning rates (default: each tool's own default)")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=4608)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-steps", type=int, default=0, help="SAELens: linear learning-rate warm-up steps")
    parser.add_argument("--lr-decay-fraction", type=float, default=0.0,
                        help="SAELens: linear decay to 0 over this last share of steps (saepipe's train.lr_decay_fraction)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tools = numbers(args.tools, str)
    if unknown := set(tools) - set(TOOLS):
        raise SystemExit(f"unknown tools {sorted(unknown)}; choose from {TOOLS}")
    training, held_out, scale = load_rows(args.acts, args.split)
    steps = args.tokens // args.batch
    schedule = dict(warmup_steps=args.warmup_steps, decay_steps=int(steps * args.lr_decay_fraction))
    # Each tool's own default learning rate for this width (sparsify and dictionary_learning scale theirs by 1/√(F/2^14)).
    defaults = {"saelens-standard": 3e-4, "saelens-batchtopk": 3e-4, "sparsify-topk": 5e-3 / (args.features / 2 ** 14) ** 0.5,
                "dictlearn-batchtopk": 2e-4 / (args.features / 2 ** 14) ** 0.5}
    runs = json.load(open(args.json)) if os.path.exists(args.json) else []
    print(f"{len(training)} training rows, {len(held_out)} held out, {steps} steps of {args.batch}, cpu threads {args.threads}")
    for tool in tools:
        levels = numbers(args.l1, float) if tool == "saelens-standard" else numbers(args.k, float)
        # SAELens' schedule is an option; a run with one is its own recipe.
        scheduled = tool.startswith("saelens-") and (schedule["warmup_steps"] or schedule["decay_steps"])
        recipe = f"{tool}+warmup{schedule['warmup_steps']}+decay{args.lr_decay_fraction:g}" if scheduled else tool
        for level in levels:
            for lr in numbers(args.lr, float) if args.lr else [defaults[tool]]:
                key = (recipe, level, lr, steps * args.batch, args.features, args.seed)
                # Runs written before the seed was recorded trained with seed 0.
                if any((r["recipe"], r["level"], r["lr"], r["training_tokens"], r["features"], r.get("seed", 0)) == key for r in runs):
                    continue
                encode_decode, seconds = train(tool, level, lr, training, args.features, args.batch, steps, args.seed, schedule)
                metrics = score(encode_decode, held_out, scale, args.features)
                run = dict(recipe=recipe, level=level, level_name="λ" if tool == "saelens-standard" else "k", lr=lr, seconds=seconds, tokens_per_s=steps * args.batch / seconds,
                           features=args.features, training_tokens=steps * args.batch, seed=args.seed, **metrics)
                print(f"{recipe} level {level:g} lr {lr:.3g}: L0 {run['l0']:.1f}, FVE {run['fve']:.3f}, "
                      f"dead {100 * run['dead_fraction']:.1f}%, {seconds:.0f} s, {run['tokens_per_s']:.0f} tok/s", flush=True)
                runs.append(run)
                with open(args.json + ".tmp", "w") as file:
                    json.dump(runs, file, indent=1)
                os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
