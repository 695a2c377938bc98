"""A grid search of npnet estimators on a Dask cluster: the same GridSearchCV, joblib's "dask" backend.

    python examples/dask_grid_search.py [SCHEDULER_ADDRESS]

Without an address it starts a LocalCluster of two worker processes on this
machine; with one (``tcp://scheduler:8786``) it runs on that cluster, whose
workers need npnet and scikit-learn installed. The search code does not
change: scikit-learn hands its fits to joblib, and ``joblib.parallel_backend("dask")``
sends joblib's work to the cluster's workers. Each fit trains an
``npnet.sklearn.MLPClassifier`` (a softmax over the 10 digits) on one fold.

Needs ``pip install 'dask[distributed]' scikit-learn``.
"""
from __future__ import annotations

import sys

import joblib
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from npnet.sklearn import MLPClassifier


def search(client: Client) -> GridSearchCV:
    """Three architectures x two lengths of training, 3-fold, on the digits: 18 fits on the cluster."""
    x, y = load_digits(return_X_y=True)
    grid = GridSearchCV(MLPClassifier(batch_size=32, random_state=0),
                        {"hidden_layer_sizes": [(16,), (32,), (32, 16)], "epochs": [5, 20]}, cv=3)
    with joblib.parallel_backend("dask"):   # the one line that differs from a search on this machine
        grid.fit(x / 16.0, y)
    return grid


def main(argv: list[str]) -> int:
    if argv:
        client = Client(argv[0])
    else:
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None))
    with client:
        grid = search(client)
        workers = len(client.scheduler_info()["workers"])
    print(f"best of {len(grid.cv_results_['params'])} settings on {workers} Dask workers: {grid.best_params_}, "
          f"cross-validated accuracy {grid.best_score_:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
