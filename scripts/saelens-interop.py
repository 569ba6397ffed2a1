"""saepipe's SAELens format checked against SAELens itself, on one activation set.

  score DIR --acts ACTS        SAELens loads the SAE in DIR (e.g. a saepipe train cache entry)
                               and scores it on every row: FVE, L0, dead share, as JSON.
                               Compare with `saepipe sae-metrics --sae DIR --acts ACTS --rows all`.
  train OUT --acts ACTS        SAELens trains a small SAE on the rows and saves it to OUT (its
                               inference format), then scores it as `score` does; load it in
                               saepipe with `sae.load` or `saepipe sae-metrics`.

Needs `pip install sae-lens` (it brings torch). Rows are float32 `acts.mmap` with the
shape in `meta.json`, as saepipe's collect stage writes them.
"""
import argparse
import json

import numpy as np
import torch


def activations(directory):
    meta = json.load(open(f"{directory}/meta.json"))
    if meta["dtype"] != "float32":
        raise SystemExit(f"{directory}: this script reads float32 activations, not {meta['dtype']}")
    rows, width = meta["shape"]
    return np.memmap(f"{directory}/acts.mmap", dtype=np.float32, mode="r", shape=(rows, width))


@torch.no_grad()
def score(sae, acts, batch=4096):
    """FVE = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², L0 = mean active features per row, as saepipe defines them."""
    rows, width = acts.shape
    squared_error, l0 = 0.0, 0.0
    sums, squares = np.zeros(width), np.zeros(width)
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    for start in range(0, rows, batch):
        x = torch.from_numpy(np.array(acts[start:start + batch]))
        f = sae.encode(x)
        x_hat = sae.decode(f)
        squared_error += float(((x_hat - x) ** 2).double().sum())
        l0 += float((f != 0).double().sum())
        fired |= (f != 0).any(dim=0)
        sums += x.double().sum(dim=0).numpy()
        squares += (x.double() ** 2).sum(dim=0).numpy()
    variance = float((squares - sums * sums / rows).sum())
    return {"rows": rows, "fve": 1 - squared_error / variance, "l0": l0 / rows,
            "dead_fraction": float((~fired).double().mean()), "architecture": sae.cfg.architecture()}


def load(directory):
    from sae_lens import SAE
    return SAE.load_from_disk(directory, device="cpu")


def train(out, acts, architecture, steps, batch, d_sae, k, l0_coefficient, lr, seed):
    from sae_lens import (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig, JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig,
                          StandardTrainingSAE, StandardTrainingSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig)
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer
    torch.manual_seed(seed)
    rows, width = acts.shape
    common = dict(d_in=width, d_sae=d_sae, dtype="float32", device="cpu")
    if architecture == "standard":
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=l0_coefficient, **common))
    elif architecture == "topk":
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(k=k, **common))
    elif architecture == "batchtopk":
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=k, **common))
    else:
        sae = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(l0_coefficient=l0_coefficient, **common))
    generator = np.random.default_rng(seed)

    def batches():
        while True:
            yield torch.from_numpy(np.array(acts[np.sort(generator.choice(rows, size=batch, replace=False))]))

    cfg = SAETrainerConfig(
        n_checkpoints=0, checkpoint_path=None, save_final_checkpoint=False, total_training_samples=steps * batch, device="cpu",
        autocast=False, lr=lr, lr_end=lr, lr_scheduler_name="constant", lr_warm_up_steps=0, adam_beta1=0.9, adam_beta2=0.999,
        lr_decay_steps=0, n_restart_cycles=1, train_batch_size_samples=batch, dead_feature_window=1000, feature_sampling_window=2000,
        logger=LoggingConfig(log_to_wandb=False))
    trained = SAETrainer(cfg, sae, batches()).fit()
    trained.save_inference_model(out)
    return load(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["score", "train"])
    parser.add_argument("directory", help="the SAE directory to score, or where to save the trained one")
    parser.add_argument("--acts", required=True, help="an activation set directory (acts.mmap + meta.json)")
    parser.add_argument("--architecture", default="batchtopk", choices=["standard", "topk", "batchtopk", "jumprelu"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--l0-coefficient", type=float, default=1.0, help="λ for standard (L1) and jumprelu (L0)")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    acts = activations(args.acts)
    if args.command == "score":
        sae = load(args.directory)
    else:
        sae = train(args.directory, acts, args.architecture, args.steps, args.batch, args.d_sae, args.k, args.l0_coefficient,
                    args.lr, args.seed)
    print(json.dumps(score(sae, acts), indent=2))


if __name__ == "__main__":
    main()
