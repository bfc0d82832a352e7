"""BindsNET 0.3.4's Diehl & Cook MNIST example, timed (the peer of ``bench_snn_stdp.py``).

Runs in BindsNET's own virtual environment (it needs torch ≥ 2.14 and a matching
torchvision, which do not install beside the torch this project pins)::

    python3 -m venv /tmp/bnvenv && /tmp/bnvenv/bin/pip install bindsnet==0.3.4
    /tmp/bnvenv/bin/python benchmarks/peers/bindsnet_diehl_cook.py --neurons 100 \
        --data ../shared/data/mnist --train 300 --test 300

The loop of the example ``examples/mnist/eth_mnist.py`` (BindsNET/bindsnet, release 0.3.4)
with its settings (``../shared/reference/snn.md`` §1): ``DiehlAndCook2015(n_inpt=784, exc=22.5,
inh=120, dt=1.0, norm=78.4, theta_plus=0.05)``, ``PoissonEncoder(time=250, dt=1.0)`` on
pixel·128 Hz, spike monitors on every layer, state reset after each image, label assignment
every 250 images, evaluation one image at a time with learning off. Adapted as snn.md says:
MNIST read from local IDX files (no download, no torchvision), the training set cut to
``--train`` images, no plotting, the thread count set, and the two loops timed. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import time
from pathlib import Path


def read_idx(path: Path):  # noqa: ANN201 - torch is imported late (thread count)
    import torch

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).view(*shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    from bindsnet.encoding import PoissonEncoder
    from bindsnet.evaluation import all_activity, assign_labels
    from bindsnet.models import DiehlAndCook2015
    from bindsnet.network.monitors import Monitor

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sim_time, dt, update_interval = 250, 1.0, 250
    images = read_idx(args.data / "train-images-idx3-ubyte.gz").float() / 255.0 * 128.0
    labels = read_idx(args.data / "train-labels-idx1-ubyte.gz").long()
    test_images = read_idx(args.data / "t10k-images-idx3-ubyte.gz").float() / 255.0 * 128.0
    test_labels = read_idx(args.data / "t10k-labels-idx1-ubyte.gz").long()
    n = args.neurons
    network = DiehlAndCook2015(n_inpt=784, n_neurons=n, exc=22.5, inh=120, dt=dt, norm=78.4,
                               theta_plus=0.05, inpt_shape=(1, 28, 28))
    encoder = PoissonEncoder(time=sim_time, dt=dt)
    spikes = {}
    for layer in set(network.layers):
        spikes[layer] = Monitor(network.layers[layer], state_vars=["s"], time=sim_time)
        network.add_monitor(spikes[layer], name=f"{layer}_spikes")
    spike_record = torch.zeros(update_interval, sim_time, n)
    assignments = -torch.ones(n)
    proportions = torch.zeros(n, 10)
    rates = torch.zeros(n, 10)

    network.train(mode=True)
    t0 = time.perf_counter()
    for i in range(args.train):
        if i % update_interval == 0 and i > 0:
            assignments, proportions, rates = assign_labels(
                spike_record, labels[i - update_interval:i], 10, rates)
        x = encoder(images[i].view(1, 28, 28)).view(sim_time, 1, 1, 28, 28)
        network.run(inputs={"X": x}, time=sim_time, input_time_dim=1)
        spike_record[i % update_interval] = spikes["Ae"].get("s").squeeze()
        network.reset_state_variables()
    train_s = time.perf_counter() - t0
    # labels from the last training block, then evaluation one image at a time
    k = min(args.train, update_interval)
    assignments, proportions, rates = assign_labels(spike_record[:k],
                                                    labels[args.train - k:args.train], 10, rates)
    network.train(mode=False)
    correct = 0
    t0 = time.perf_counter()
    for i in range(args.test):
        x = encoder(test_images[i].view(1, 28, 28)).view(sim_time, 1, 1, 28, 28)
        network.run(inputs={"X": x}, time=sim_time, input_time_dim=1)
        rec = spikes["Ae"].get("s").permute(1, 0, 2)
        correct += int(all_activity(rec, assignments, 10)[0] == test_labels[i])
        network.reset_state_variables()
    test_s = time.perf_counter() - t0
    import bindsnet
    print(json.dumps({"library": "bindsnet", "version": getattr(bindsnet, "__version__",
                                                                 "0.3.4"),
                      "torch": torch.__version__, "neurons": n, "train_images": args.train,
                      "test_images": args.test,
                      "train_images_per_s": args.train / train_s,
                      "eval_images_per_s": args.test / test_s,
                      "eval_batch": 1, "test_accuracy": correct / max(1, args.test)}))


if __name__ == "__main__":
    main()
