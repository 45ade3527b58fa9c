"""Loaders for the small time-series classification datasets bundled with skgru.

The seven datasets are the standard train/test splits of public problems from
the UCR and UEA time series classification archives, stored as compressed
NumPy archives in ``skgru/datasets/data``. They were exported from the data
files that the BSD-licensed ``aeon`` package ships. See
``skgru/datasets/data/README.md`` for provenance, license and citations.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "load_acsf1",
    "load_arrowhead",
    "load_basic_motions",
    "load_gunpoint",
    "load_italy_power_demand",
    "load_osuleaf",
    "load_pickup_gesture_wiimote_z",
]

_DATA_PACKAGE = "skgru.datasets"
_DATA_DIR = "data"
_SPLITS = ("train", "test")

_CITE_UCR = (
    "Dau, H. A., Bagnall, A., Kamgar, K., Yeh, C.-C. M., Zhu, Y., Gharghabi, S.,\n"
    "Ratanamahatana, C. A. and Keogh, E. (2019). The UCR time series archive.\n"
    "IEEE/CAA Journal of Automatica Sinica, 6(6), 1293-1305."
)
_CITE_UEA = (
    "Bagnall, A., Dau, H. A., Lines, J., Flynn, M., Large, J., Bostrom, A.,\n"
    "Southam, P. and Keogh, E. (2018). The UEA multivariate time series\n"
    "classification archive, 2018. arXiv:1811.00075."
)
_CITE_BAKEOFF = (
    "Bagnall, A., Lines, J., Bostrom, A., Large, J. and Keogh, E. (2017). The great\n"
    "time series classification bake off: a review and experimental evaluation of\n"
    "recent algorithmic advances. Data Mining and Knowledge Discovery, 31(3), 606-660."
)
_CITE_FAWAZ = (
    "Ismail Fawaz, H., Forestier, G., Weber, J., Idoumghar, L. and Muller, P.-A.\n"
    "(2019). Deep learning for time series classification: a review. Data Mining\n"
    "and Knowledge Discovery, 33(4), 917-963."
)
_CITE_UCR_2018 = (
    "Dau, H. A., Keogh, E., Kamgar, K., Yeh, C.-C. M., Zhu, Y., Gharghabi, S.,\n"
    "Ratanamahatana, C. A., Chen, Y., Hu, B., Begum, N., Bagnall, A., Mueen, A.\n"
    "and Batista, G. (2018). The UCR Time Series Classification Archive.\n"
    "https://www.cs.ucr.edu/~eamonn/time_series_data_2018/ (summary table of\n"
    "1-NN Euclidean and 1-NN DTW error rates on the default split)."
)
_CITE_YE_KEOGH = (
    "Ye, L. and Keogh, E. (2009). Time series shapelets: a new primitive for data\n"
    "mining. Proceedings of the 15th ACM SIGKDD International Conference on\n"
    "Knowledge Discovery and Data Mining (KDD '09)."
)
_CITE_GANDHI = (
    "Gandhi, A. (2002). Content-based image retrieval: plant species\n"
    "identification. MSc thesis, Oregon State University."
)
_CITE_GISLER = (
    "Gisler, C., Ridi, A., Zufferey, D., Abou Khaled, O. and Hennebert, J. (2013).\n"
    "Appliance consumption signature database and recognition test protocols.\n"
    "8th International Workshop on Systems, Signal Processing and their\n"
    "Applications (WoSSPA), IEEE. doi:10.1109/WoSSPA.2013.6602387."
)
_SOURCE_NOTE = (
    "Source: the UCR/UEA time series classification archive\n"
    "(https://www.timeseriesclassification.com), free for research use with\n"
    "citation. Exported unchanged (standard train/test split) from the data files\n"
    "shipped by the BSD-licensed aeon package (aeon/datasets/data/<Name>)."
)

# name -> metadata used to build the Bunch and its DESCR.
_DATASETS = {
    "GunPoint": {
        "title": "GunPoint (UCR archive, univariate)",
        "variable_length": False,
        "description": (
            "Motion-tracking data of two actors performing two hand motions: drawing\n"
            "a replica gun from a hip holster, pointing it at a target and putting it\n"
            "back, versus making the same motion pointing with the index finger and\n"
            "no gun. Each series is the horizontal (X) coordinate of the centroid of\n"
            "the actor's right hand over 150 video frames."
        ),
        "citations": (_CITE_UCR,),
        "baselines": (
            "1-NN Euclidean distance: 0.913 (Bagnall et al. 2017)",
            "MLP: 0.927 (Fawaz et al. 2019, mean of 10 runs)",
            "ResNet / FCN: about 0.99-1.00 (Fawaz et al. 2019)",
        ),
    },
    "ItalyPowerDemand": {
        "title": "ItalyPowerDemand (UCR archive, univariate)",
        "variable_length": False,
        "description": (
            "Electrical power demand in Italy. Each series holds the 24 hourly demand\n"
            "values of one day; the two classes separate days from October to March\n"
            "from days from April to September."
        ),
        "citations": (_CITE_UCR,),
        "baselines": (
            "1-NN Euclidean distance: 0.955 (Bagnall et al. 2017)",
            "MLP: 0.946 (Fawaz et al. 2019, mean of 10 runs)",
            "ResNet: 0.963 (Fawaz et al. 2019)",
        ),
    },
    "BasicMotions": {
        "title": "BasicMotions (UEA archive, multivariate)",
        "variable_length": False,
        "description": (
            "Smartwatch recordings of people performing four activities: standing,\n"
            "walking, running and playing badminton. The six channels are the three\n"
            "axes of the accelerometer and the three axes of the gyroscope, sampled\n"
            "at 10 Hz for 10 seconds (100 time steps)."
        ),
        "citations": (_CITE_UEA,),
        "baselines": ("Most published methods reach an accuracy of about 1.0.",),
    },
    "PickupGestureWiimoteZ": {
        "title": "PickupGestureWiimoteZ (UCR archive, univariate, variable length)",
        "variable_length": True,
        "description": (
            "Z-axis acceleration of a Nintendo Wiimote controller while ten subjects\n"
            'each perform the same "pick-up" gesture several times; the class is\n'
            "the subject (five series of each subject per split). Data from Guna,\n"
            "Humar and Pogacnik (2012), edited by H. A. Dau for the UCR archive.\n"
            "The series have different lengths (29 to 361 time steps); ``data`` is\n"
            "a list of arrays cut to their true lengths."
        ),
        "citations": (_CITE_UCR,),
        "baselines": ("WEASEL 2.0: about 0.80 (on the equal-length, zero-padded version)",),
    },
    "ArrowHead": {
        "title": "ArrowHead (UCR archive, univariate)",
        "variable_length": False,
        "description": (
            "Outlines of images of arrowheads (projectile points), converted into\n"
            "time series with an angle-based method. The three classes, called\n"
            '"Avonlea", "Clovis" and "Mix" in the archive (stored as the labels "0",\n'
            '"1" and "2"), are based on shape distinctions such as the presence and\n'
            "location of a notch in the arrowhead. The archive holds a length-\n"
            "normalised version (251 time steps) of the data used by Ye and Keogh\n"
            "(2009). The training set is small: 12 series per class."
        ),
        "citations": (_CITE_UCR, _CITE_YE_KEOGH),
        "baselines": (
            "1-NN Euclidean distance: 0.800 (UCR archive 2018 table)",
            "1-NN DTW, warping window learned on the train set (0%): 0.800 "
            "(UCR archive 2018 table)",
            "1-NN DTW, no warping window: 0.703 (UCR archive 2018 table)",
        ),
        "baseline_citations": (_CITE_UCR_2018,),
    },
    "OSULeaf": {
        "title": "OSULeaf (UCR archive, univariate)",
        "variable_length": False,
        "description": (
            "One-dimensional outlines of leaves, obtained by colour image\n"
            "segmentation and boundary extraction (anti-clockwise) from digitised\n"
            "leaf images of six species: Acer circinatum, Acer glabrum, Acer\n"
            "macrophyllum, Acer negundo, Quercus garryana and Quercus kelloggii\n"
            '(stored as the labels "1" to "6"). Data from the MSc thesis of A. Gandhi\n'
            "(2002), Oregon State University. At 427 time steps the series are long\n"
            "for a recurrent model."
        ),
        "citations": (_CITE_UCR, _CITE_GANDHI),
        "baselines": (
            "1-NN Euclidean distance: 0.521 (UCR archive 2018 table)",
            "1-NN DTW, warping window learned on the train set (7%): 0.612 "
            "(UCR archive 2018 table)",
            "1-NN DTW, no warping window: 0.591 (UCR archive 2018 table)",
        ),
        "baseline_citations": (_CITE_UCR_2018,),
    },
    "ACSF1": {
        "title": "ACSF1 (UCR archive, univariate)",
        "variable_length": False,
        "description": (
            "Power consumption of home appliances, compiled from ACS-F1, the first\n"
            "version of the appliance consumption signatures database of Gisler et\n"
            "al. (2013), and edited for the archive by P. Schäfer and U. Leser. The\n"
            "recordings have long idle periods and some high bursts of consumption\n"
            "when the appliance is active. The ten classes (stored as the labels\n"
            '"0" to "9") are appliance categories: mobile phones (via chargers),\n'
            "coffee machines, computer stations (including monitor), fridges and\n"
            "freezers, Hi-Fi systems (CD players), lamps (CFL), laptops (via\n"
            "chargers), microwave ovens, printers and televisions (LCD or LED). At\n"
            "1460 time steps the series are very long for a recurrent model."
        ),
        "citations": (_CITE_UCR, _CITE_GISLER),
        "baselines": (
            "1-NN Euclidean distance: 0.540 (UCR archive 2018 table)",
            "1-NN DTW, warping window learned on the train set (4%): 0.620 "
            "(UCR archive 2018 table)",
            "1-NN DTW, no warping window: 0.640 (UCR archive 2018 table)",
        ),
        "baseline_citations": (_CITE_UCR_2018,),
    },
}

# Sources of the published baselines, unless a dataset's metadata names its own.
_DEFAULT_BASELINE_CITATIONS = (_CITE_BAKEOFF, _CITE_FAWAZ)


def _check_split(split):
    if not isinstance(split, str) or split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS!r}, got {split!r}.")


def _read_npz(filename):
    """Read all arrays of a bundled ``.npz`` file into memory.

    Returns the dict of arrays and a string naming the file: its filesystem
    path when the package lives on disk, else its bare name.
    """
    resource = resources.files(_DATA_PACKAGE) / _DATA_DIR / filename
    with resources.as_file(resource) as path:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    # On a regular install ``resource`` is a real path that outlives as_file.
    location = str(resource) if isinstance(resource, Path) else filename
    return arrays, location


def _format_descr(name, meta, split, data_shape, n_classes, lengths):
    lines = [meta["title"], "=" * len(meta["title"]), "", meta["description"], ""]
    lines.append(f"Split loaded: {split!r}")
    lines.append(f"Number of series: {data_shape[0]}")
    if meta["variable_length"]:
        lines.append(
            f"Series length: variable, {int(lengths.min())} to {int(lengths.max())} "
            f"in this split (padded length in the file: {data_shape[1]})"
        )
    else:
        lines.append(f"Series length: {data_shape[1]}")
    lines.append(f"Number of channels: {data_shape[2]}")
    lines.append(f"Number of classes: {n_classes}")
    lines.append(
        "Shape of data: "
        + (
            f"list of {data_shape[0]} float32 arrays (length_i, {data_shape[2]})"
            if meta["variable_length"]
            else f"float32 array {tuple(int(s) for s in data_shape)}"
        )
    )
    lines += ["", "Published test accuracies (default split)", "-" * 41]
    lines += [f"- {b}" for b in meta["baselines"]]
    lines += ["", "Citation", "--------", "Please cite when using this dataset:", ""]
    for c in meta["citations"]:
        lines += [c, ""]
    lines += ["Baselines from:", ""]
    for c in meta.get("baseline_citations", _DEFAULT_BASELINE_CITATIONS):
        lines += [c, ""]
    lines += [_SOURCE_NOTE, ""]
    return "\n".join(lines)


def _load(name, *, split, return_X_y):
    _check_split(split)
    meta = _DATASETS[name]
    filename = f"{name}.npz"
    arrays, location = _read_npz(filename)

    X = np.asarray(arrays[f"X_{split}"], dtype=np.float32)
    lengths = np.asarray(arrays[f"len_{split}"], dtype=np.intp)
    target = np.asarray(arrays[f"y_{split}"]).astype(str)
    target_names = np.asarray(arrays["classes"]).astype(str)

    if meta["variable_length"]:
        # Copies, so that each series does not keep the padded block alive.
        data = [X[i, :length].copy() for i, length in enumerate(lengths)]
    else:
        data = X

    if return_X_y:
        return data, target

    n_channels = X.shape[2]
    return Bunch(
        data=data,
        target=target,
        lengths=lengths,
        target_names=target_names,
        feature_names=[f"dim_{c}" for c in range(n_channels)],
        DESCR=_format_descr(name, meta, split, X.shape, len(target_names), lengths),
        filename=location,
    )


_PARAMS_DOC = """Parameters
    ----------
    split : {{"train", "test"}}, default="train"
        Which part of the standard archive train/test split to load.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {data_doc}
            The series.
        target : ndarray of str, shape (n_series,)
            The class label of each series, as in the archive.
        lengths : ndarray of int, shape (n_series,)
            The true length of each series.
        target_names : ndarray of str, shape (n_classes,)
            The class labels.
        feature_names : list of str
            Channel names ``"dim_0"``, ``"dim_1"``, ...
        DESCR : str
            Description of the dataset, its shapes, citation and published
            baseline accuracies.
        filename : str
            Path of the bundled ``.npz`` file.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above."""


def load_gunpoint(*, split="train", return_X_y=False):
    """Load the GunPoint dataset (univariate, fixed length, 2 classes).

    ==============   ==============
    Series (train)   50
    Series (test)    150
    Length           150
    Channels         1
    Classes          2 ("1", "2")
    ==============   ==============

    Published test accuracies: 1-NN Euclidean 0.913, MLP 0.927.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Examples
    --------
    >>> from skgru.datasets import load_gunpoint
    >>> X, y = load_gunpoint(return_X_y=True)
    >>> X.shape
    (50, 150, 1)
    >>> X.dtype
    dtype('float32')
    >>> sorted(set(y.tolist()))
    ['1', '2']
    >>> load_gunpoint(split="test").data.shape
    (150, 150, 1)
    """
    return _load("GunPoint", split=split, return_X_y=return_X_y)


def load_italy_power_demand(*, split="train", return_X_y=False):
    """Load the ItalyPowerDemand dataset (univariate, fixed length, 2 classes).

    ==============   ==============
    Series (train)   67
    Series (test)    1029
    Length           24
    Channels         1
    Classes          2 ("1", "2")
    ==============   ==============

    Published test accuracies: 1-NN Euclidean 0.955, MLP 0.946.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Examples
    --------
    >>> from skgru.datasets import load_italy_power_demand
    >>> X, y = load_italy_power_demand(return_X_y=True)
    >>> X.shape
    (67, 24, 1)
    >>> bunch = load_italy_power_demand(split="test")
    >>> bunch.data.shape
    (1029, 24, 1)
    >>> bunch.target_names.tolist()
    ['1', '2']
    """
    return _load("ItalyPowerDemand", split=split, return_X_y=return_X_y)


def load_basic_motions(*, split="train", return_X_y=False):
    """Load the BasicMotions dataset (multivariate, fixed length, 4 classes).

    ==============   ==============
    Series (train)   40
    Series (test)    40
    Length           100
    Channels         6
    Classes          4
    ==============   ==============

    Most published methods reach a test accuracy of about 1.0.

    {params}

    References
    ----------
    Bagnall, A. et al. (2018). The UEA multivariate time series classification
    archive, 2018. arXiv:1811.00075.

    Examples
    --------
    >>> from skgru.datasets import load_basic_motions
    >>> bunch = load_basic_motions()
    >>> bunch.data.shape
    (40, 100, 6)
    >>> bunch.target_names.tolist()
    ['Badminton', 'Running', 'Standing', 'Walking']
    >>> bunch.feature_names
    ['dim_0', 'dim_1', 'dim_2', 'dim_3', 'dim_4', 'dim_5']
    """
    return _load("BasicMotions", split=split, return_X_y=return_X_y)


def load_pickup_gesture_wiimote_z(*, split="train", return_X_y=False):
    """Load the PickupGestureWiimoteZ dataset (univariate, variable length, 10 classes).

    ==============   ==============
    Series (train)   50
    Series (test)    50
    Length           29 to 361 (variable)
    Channels         1
    Classes          10 subjects ("1" to "10")
    ==============   ==============

    The series have different lengths, so ``data`` is a list of float32
    arrays of shape ``(lengths[i], 1)``. WEASEL 2.0 reaches a test accuracy of
    about 0.80 on the equal-length, zero-padded version.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Examples
    --------
    >>> from skgru.datasets import load_pickup_gesture_wiimote_z
    >>> bunch = load_pickup_gesture_wiimote_z()
    >>> len(bunch.data)
    50
    >>> bunch.data[0].shape
    (324, 1)
    >>> int(bunch.lengths.min()), int(bunch.lengths.max())
    (29, 361)
    >>> all(x.shape[0] == n for x, n in zip(bunch.data, bunch.lengths))
    True
    """
    return _load("PickupGestureWiimoteZ", split=split, return_X_y=return_X_y)


def load_arrowhead(*, split="train", return_X_y=False):
    """Load the ArrowHead dataset (univariate, fixed length, 3 classes).

    ==============   ==============
    Series (train)   36
    Series (test)    175
    Length           251
    Channels         1
    Classes          3 ("0", "1", "2")
    ==============   ==============

    Arrowhead outlines as time series; the classes are the shape types
    "Avonlea", "Clovis" and "Mix" of the archive. Published test accuracies
    (UCR archive 2018 table): 1-NN Euclidean 0.800, 1-NN DTW with no
    warping window 0.703.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Ye, L. and Keogh, E. (2009). Time series shapelets: a new primitive for
    data mining. Proceedings of the 15th ACM SIGKDD International Conference
    on Knowledge Discovery and Data Mining (KDD '09).

    Examples
    --------
    >>> from skgru.datasets import load_arrowhead
    >>> X, y = load_arrowhead(return_X_y=True)
    >>> X.shape
    (36, 251, 1)
    >>> sorted(set(y.tolist()))
    ['0', '1', '2']
    >>> round(float(X[0, 0, 0]), 4)
    -1.963
    >>> load_arrowhead(split="test").data.shape
    (175, 251, 1)
    """
    return _load("ArrowHead", split=split, return_X_y=return_X_y)


def load_osuleaf(*, split="train", return_X_y=False):
    """Load the OSULeaf dataset (univariate, fixed length, 6 classes).

    ==============   ==============
    Series (train)   200
    Series (test)    242
    Length           427
    Channels         1
    Classes          6 species ("1" to "6")
    ==============   ==============

    Leaf outlines of six tree species (Acer and Quercus). Published test
    accuracies (UCR archive 2018 table): 1-NN Euclidean 0.521, 1-NN DTW with
    a learned warping window 0.612.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Gandhi, A. (2002). Content-based image retrieval: plant species
    identification. MSc thesis, Oregon State University.

    Examples
    --------
    >>> from skgru.datasets import load_osuleaf
    >>> bunch = load_osuleaf()
    >>> bunch.data.shape
    (200, 427, 1)
    >>> bunch.target_names.tolist()
    ['1', '2', '3', '4', '5', '6']
    >>> bunch.target[:5].tolist()
    ['6', '5', '2', '1', '3']
    >>> load_osuleaf(split="test").data.shape
    (242, 427, 1)
    """
    return _load("OSULeaf", split=split, return_X_y=return_X_y)


def load_acsf1(*, split="train", return_X_y=False):
    """Load the ACSF1 dataset (univariate, fixed length, 10 classes).

    ==============   ==============
    Series (train)   100
    Series (test)    100
    Length           1460
    Channels         1
    Classes          10 appliance types ("0" to "9")
    ==============   ==============

    Power-consumption signatures of home appliances from the ACS-F1
    database, ten series of each class per split. Published test accuracies
    (UCR archive 2018 table): 1-NN Euclidean 0.540, 1-NN DTW with no warping
    window 0.640.

    {params}

    References
    ----------
    Dau, H. A. et al. (2019). The UCR time series archive. IEEE/CAA Journal of
    Automatica Sinica, 6(6), 1293-1305.

    Gisler, C., Ridi, A., Zufferey, D., Abou Khaled, O. and Hennebert, J.
    (2013). Appliance consumption signature database and recognition test
    protocols. 8th International Workshop on Systems, Signal Processing and
    their Applications (WoSSPA), IEEE.

    Examples
    --------
    >>> from skgru.datasets import load_acsf1
    >>> X, y = load_acsf1(split="test", return_X_y=True)
    >>> X.shape
    (100, 1460, 1)
    >>> sorted(set(y.tolist())) == [str(i) for i in range(10)]
    True
    >>> [int((y == c).sum()) for c in ("0", "9")]
    [10, 10]
    """
    return _load("ACSF1", split=split, return_X_y=return_X_y)


_FIXED_DATA_DOC = "ndarray of float32, shape (n_series, n_timesteps, n_channels)"
_RAGGED_DATA_DOC = "list of ndarray of float32, each of shape (lengths[i], n_channels)"

for _func, _data_doc in (
    (load_gunpoint, _FIXED_DATA_DOC),
    (load_italy_power_demand, _FIXED_DATA_DOC),
    (load_basic_motions, _FIXED_DATA_DOC),
    (load_pickup_gesture_wiimote_z, _RAGGED_DATA_DOC),
    (load_arrowhead, _FIXED_DATA_DOC),
    (load_osuleaf, _FIXED_DATA_DOC),
    (load_acsf1, _FIXED_DATA_DOC),
):
    if _func.__doc__:  # None under ``python -OO``
        _func.__doc__ = _func.__doc__.replace("{params}", _PARAMS_DOC.format(data_doc=_data_doc))
del _func, _data_doc
