"""Write three scikit-learn data sets as CSV files with pandas, for `npnet train` (README, "Your own data").

    python examples/sklearn_data.py [DIRECTORY]      (default: the current directory)

- breast_cancer.csv: 569 samples, 30 features, one label `malignant` (212 True),
  written by pandas as True/False.
- digits.csv: 1,797 8x8 images, 64 pixel features, 10 labels `digit_0` ... `digit_9`
  (one-hot: each image's digit), True/False.
- multilabel.csv: make_multilabel_classification with 25 labels `label_00` ... `label_24`
  (2 per sample on average), 20 count features, 0/1.

Needs scikit-learn and pandas (`pip install 'npnet[demo]'`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, make_multilabel_classification

# The many-label set: enough samples that each of the 25 labels (about 8% positive) has ~100 test positives.
MULTILABEL = dict(n_samples=4000, n_features=20, n_classes=25, n_labels=2, random_state=0)


def breast_cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    return data.data.assign(malignant=data.target == 0)   # scikit-learn's target 0 is malignant


def digits() -> pd.DataFrame:
    data = load_digits(as_frame=True)
    labels = pd.DataFrame({f"digit_{d}": data.target == d for d in range(10)})
    return pd.concat([data.data, labels], axis=1)


def multilabel() -> pd.DataFrame:
    x, y = make_multilabel_classification(**MULTILABEL)
    return pd.concat([pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])]),
                      pd.DataFrame(y, columns=[f"label_{k:02d}" for k in range(y.shape[1])])], axis=1)


def main(directory: str = ".") -> None:
    for name, frame in (("breast_cancer", breast_cancer()), ("digits", digits()), ("multilabel", multilabel())):
        path = Path(directory) / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        print(f"{path}: {frame.shape[0]} rows, {frame.shape[1]} columns")


if __name__ == "__main__":
    main(*sys.argv[1:])
