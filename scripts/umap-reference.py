#!/usr/bin/env python3
"""umap-learn's embedding of the same vectors, for the test that checks saepipe's own UMAP.

  umap-reference.py VECTORS.f32 ROWS D OUT.json

Reads ROWS × D little-endian float32 unit vectors and writes umap-learn's 2-D coordinates
(cosine metric, 15 neighbours, min_dist 0.1, seed 0) as a flat JSON list x0, y0, x1, y1, ….
"""
import json
import sys

import numpy as np
import umap

path, rows, d, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
x = np.fromfile(path, dtype="<f4").reshape(rows, d)
embedding = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=0).fit_transform(x)
json.dump([float(v) for v in embedding.reshape(-1)], open(out, "w"))
