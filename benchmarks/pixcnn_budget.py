"""PixCNN's epoch budget on MNIST (issue #23), chosen on the validation NLL of training digits.

``mnist_budget.py`` with PixCNN's defaults: the training and validation negative
log-likelihood (nats per pixel) are written per epoch, and the rule reads the validation NLL.

    python benchmarks/pixcnn_budget.py curve ../shared/data/mnist --cls 0 --epochs 30 \\
        --out benchmarks/results/pixcnn_budget.csv
    python benchmarks/pixcnn_budget.py choose benchmarks/results/pixcnn_budget.csv
"""

from __future__ import annotations

from mnist_budget import main, parser

if __name__ == "__main__":
    main(parser(__doc__, "pixcnn", "val_nll", ("train_nll", "val_nll"), epochs=30).parse_args())
