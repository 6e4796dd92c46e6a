"""``PrunedNetClassifier``: a scikit-learn classifier fitted by IMP."""

import os
import re
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from skimp import metrics
from skimp._data import (
    check_fit_params,
    explain_string_features,
    row_shape_message,
    to_fitted_layout,
    validation_split,
    warn_small_last_batch,
)
from skimp._tickets import TicketsMixin
from skimp._validation import Hidden, Interval, NotBoolInterval, StrOptions, is_bool
from skimp.calibration import (
    _is_estimate,
    calibration_noise_matrix,
    estimate_noise_matrix,
    fit_temperature,
    fold_temperature,
    output_layer,
)
from skimp.callbacks import check_callbacks
from skimp.checkpoints import CheckpointStore, run_key
from skimp.imp import ImpRunner, prunable_weights
from skimp.noise import NOISE_MODELS, apply_label_noise, noise_transition_matrix
from skimp.pruning import CRITERIA, SCOPES
from skimp.training import (
    INFERENCE_BATCH_SIZE,
    build_net,
    check_output_width,
    check_training_settings,
    resolve_threads,
    torch_threads,
)

__all__ = ["PrunedNetClassifier"]

# skorch-style parameters routed to the inner net, e.g. ``optimizer__momentum``.
NET_PREFIXES = ("module__", "optimizer__", "criterion__", "callbacks__",
                "iterator_train__", "iterator_valid__")
# Routed counts that skimp reads or the loaders use: a bool there is a mistake.
ROUTED_COUNTS = ("iterator_train__batch_size", "iterator_valid__batch_size")



class PrunedNetClassifier(TicketsMixin, ClassifierMixin, BaseEstimator):
    """Neural network classifier fitted by iterative magnitude pruning (IMP).

    ``fit`` trains a skorch network, then repeatedly removes the
    ``pruning_fraction`` smallest-magnitude surviving weights, rewinds the
    survivors to their early values and retrains. Each round is a *level*;
    level 0 is the dense network. The level that does best on a validation
    split of the fit data (the "winning ticket") is kept for prediction, and
    the whole path is kept in ``imp_path_``.

    Under label noise the dense network memorises the wrong labels; moderately
    sparse tickets cannot, and are more accurate and better calibrated (Arora
    et al., UAI 2023; He et al., ICML 2022).

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; it must return logits. ``None`` builds :class:`skimp.modules.MLP`
        with ``hidden_layer_sizes``. A class is instantiated with the
        ``module__*`` parameters; a class whose constructor takes
        ``n_classes`` gets the number of classes, and one that takes
        ``input_shape`` gets the row shape of image-like X (more than 2
        dimensions), unless given as ``module__*``. An instance is
        deep-copied at ``fit`` and its
        current weights are the initial weights. It must return one logit per
        class: ``fit`` checks this on two rows, which also gives lazy layers
        their shapes. Layers named in the module's ``unpruned_layers``
        attribute (a name or a tuple of submodule names) are kept dense;
        weights shared by several layers are pruned once.
    hidden_layer_sizes : tuple of int, default=(256,)
        Widths of the default MLP's hidden layers. Ignored with a custom
        ``module``.
    max_epochs : int, default=60
        Epochs trained at each level. Sparse tickets win under label noise
        because the dense network memorises the noisy labels and they cannot,
        so the schedule must be long enough for that: check that
        ``imp_path_["last_train_accuracy"][0]`` (the last epoch's) is near
        1. The user guide lists schedules that memorise on the bundled data
        sets.
    batch_size : int, default=128
    lr : float, default=0.1
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.SGD
        Configure it with ``optimizer__*`` parameters (momentum,
        weight_decay, ...). Its state is reset at every rewind.
    pruning_fraction : float in (0, 1), default=0.2
        Fraction of the *remaining* prunable weights removed per level, so the
        density after level ``L`` is ``(1 - pruning_fraction) ** L``.
    max_levels : int, default=15
        Pruning levels after the dense level 0.
    rewind_epoch : int, default=0
        0 rewinds the survivors to their initial weights; ``k > 0`` to the
        weights after epoch ``k`` of the dense run (late rewinding). Must be
        below ``max_epochs``.
    label_noise : float in [0, 1), default=0.0
        Fraction of the rows passed to ``fit`` whose label is replaced by a
        class drawn by ``noise_model``, training and validation rows alike:
        the validation labels are noisy too. The validation split is drawn
        first, stratified on the labels as passed, so it is the same at
        every ``label_noise`` and a search over it compares the noise levels
        on the same validation rows. Data passed to ``predict`` or ``score``
        is never touched.
    validation_fraction : float in (0, 1), default=0.1
        Size of the stratified split of the fit data used to choose the
        ticket; raised to one row per class when smaller.
    selection : {"accuracy", "loss"} or callable, default="accuracy"
        ``"accuracy"``: highest validation accuracy; ``"loss"``: lowest
        validation log-loss; ties go to the sparser level. A callable gets
        the path so far as in ``imp_path_`` (a dict of numpy arrays) and
        returns a level.
    patience : int, default=None
        Stop pruning after this many levels without a new best level.
        ``None`` runs every level.
    early_stopping : bool, default=False
        Keep each level's best epoch instead of its last. After every epoch
        of every level the validation split is scored by ``selection``
        (accuracy, or log-loss with ``"loss"``) and the weights of the best
        epoch are kept (ties go to the earlier epoch): the stored levels,
        ``staged_predict_proba``, ``level_module``, ``compact_module`` and
        the chosen ticket all use them. The next level still prunes the
        weights the level ended with, so with ``n_iter_no_change=None`` the
        masks are those of ``early_stopping=False``. Level 0's kept weights
        are the dense network stopped early; ``best_level_ == 0`` then says
        that pruning did not help on this data. Needs ``selection`` to be
        ``"accuracy"`` or ``"loss"``. ``False`` is the papers' protocol,
        where every level keeps its last epoch; it stays the default by the
        rule and the measurement in ``docs/results.md``, "Calibrated
        tickets": calibrated, the early-stopped ticket was the best
        calibrated answer everywhere, but on 2,000 Fashion-MNIST rows (200
        noisy validation rows) it was 1.2 and 1.9 points less accurate than
        the dense net stopped early.
    n_iter_no_change : int, default=None
        With ``early_stopping=True``, end a level once this many epochs in a
        row have not improved its validation score; the epochs up to
        ``rewind_epoch`` are never cut, and learning-rate schedules stop
        with the level. The next level prunes the weights the level stopped
        at, so the masks differ from a full-length run. ``None`` trains
        every epoch of every level.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, batch order, label noise and validation
        split. With an int, fits on CPU are bit-for-bit reproducible.
    device : str or torch.device, default="cpu"
        Where the network trains, e.g. ``"cuda"``.
    verbose : int, default=0
        Print a progress line per level when > 0. It is also the skorch
        net's ``verbose``, so callbacks that print (``PrintLog``,
        ``Checkpoint``) print when it is > 0, as in skorch.
    n_threads : int, "auto" or None, default="auto"
        Torch CPU threads used inside ``fit`` and ``predict*``; torch's own
        setting is restored afterwards. ``"auto"`` uses one thread when a
        training batch does few multiply-adds (counted on the two rows
        ``fit`` runs through the network first, so a convolution counts at
        every position), too few to pay for thread synchronisation, and
        torch's current setting otherwise (see
        :func:`skimp.training.resolve_threads`); in joblib's process
        workers, as in ``GridSearchCV(n_jobs=k)``, that setting is already
        capped at ``cores // k``, so workers do not oversubscribe the
        machine. ``None`` leaves torch's setting alone. Results are
        bit-for-bit reproducible for a given thread count.
    checkpoint_dir : str or path-like, default=None
        Save every finished level there, atomically, in a folder keyed by a
        hash of the parameters, the data, ``random_state`` and the network's
        architecture and code. A later ``fit`` with the same key loads the
        levels it finds instead of training them, and returns exactly what
        the same fit without ``checkpoint_dir`` returns, whatever its
        ``max_levels``, ``patience`` and ``selection``. A stored level that
        is damaged or does not fit the network is recomputed, with a
        warning. Needs an int ``random_state``.
    pruning_criterion : {"magnitude", "random"} or callable, default="magnitude"
        How weights are ranked for pruning at each level: ``"magnitude"``
        by ``|w|`` (IMP); ``"random"`` by fresh random scores at each level,
        seeded from ``random_state`` (the random-pruning control, along the
        same density schedule); a callable ``criterion(module)`` returns
        ``{param_name: scores}`` for the prunable weights, lower scores
        pruned first. Pruned weights stay pruned whatever the scores.
    pruning_scope : {"global", "layerwise"}, default="global"
        ``"global"`` ranks all prunable weights together; ``"layerwise"``
        removes ``pruning_fraction`` of each layer's own surviving weights,
        so every prunable layer sits at density ``(1 - pruning_fraction)**L``
        up to rounding.
    retrain : {"rewind", "reinit", "lr_rewind"}, default="rewind"
        What the survivors restart from at each level after the first.
        ``"rewind"``: the rewind point, bit-exactly (Frankle & Carbin, 2019;
        Frankle et al., 2020). ``"reinit"``: a fresh draw of the module's
        own initialiser, new at each level and seeded (Frankle & Carbin's
        random-reinitialisation control); training resumes at
        ``rewind_epoch`` as with rewinding. ``"lr_rewind"``: the trained
        weights are kept and only the learning-rate schedule restarts at
        ``rewind_epoch`` (Renda et al., 2020); with no schedule this is
        plain continued training (fine-tuning). The optimizer state is
        reset in every mode.
    noise_model : {"symmetric", "pairflip"} or array-like of shape (n_classes, n_classes), \
            default="symmetric"
        Distribution of the replacement label of the ``label_noise``
        fraction of rows: ``"symmetric"``, uniform over all classes (the
        paper's model; about ``label_noise * (C - 1) / C`` of the labels end
        up wrong); ``"pairflip"``, class ``k`` becomes class ``k + 1``
        (mod C), in the order of ``classes_`` (He et al., 2022); or a
        row-stochastic matrix whose row ``k`` is the replacement
        distribution of the ``k``-th class of ``classes_``. See
        :func:`skimp.noise.apply_label_noise`.
    callbacks : list of skorch callbacks, default=None
        Passed to the net, as skorch takes them, and tuned with
        ``callbacks__<name>__<param>``. Each level is one skorch training
        run of the restarted weights: the callbacks are initialized again
        at its start, as skorch's ``fit`` does (so ``EpochScoring``'s best
        score and ``Checkpoint(load_best=True)`` are per level), and get
        every hook skorch sends, with skorch's arguments, including
        ``on_grad_computed`` (``GradientNormClipping``) and the per-batch
        history. The validation split is their ``dataset_valid``, so
        ``valid_loss`` is in the history. They may use any name: skimp
        never reads the history to choose an epoch or a level, and counts
        the epochs itself, so a callback that writes ``valid_acc`` or
        ``valid_loss``, or ``Checkpoint(load_best=True)`` reloading a
        shorter history, changes none of ``imp_path_``'s scores or counts
        (``load_best=True`` is refused with ``early_stopping=True``, which
        keeps the best epochs itself). ``PrintLog`` and ``Checkpoint``
        print when ``verbose > 0``, as with skorch's ``verbose``.
        Learning-rate schedules (``skorch.callbacks.LRScheduler``)
        restart at every level and are fast-forwarded to ``rewind_epoch``,
        as OpenLTH does, so epoch ``e`` of every level gets the learning
        rate of epoch ``e`` of level 0; ``step_every="batch"`` schedules
        work too. ``EarlyStopping`` is refused (use ``patience``), as are
        ``LoadInitState`` (use ``checkpoint_dir``), ``InputShapeSetter``
        and, with ``rewind_epoch > 0``, ``ReduceLROnPlateau``; the check
        reads the callbacks as ``set_params`` left them.
    train_transform : callable, default=None
        Applied to every training batch, a float32 tensor already on the
        device, before the forward pass: data augmentation such as
        :class:`skimp.transforms.RandomCropFlip`. Never applied when
        evaluating a level or predicting. It draws from torch's global RNG,
        which ``fit`` seeds from ``random_state``.
    calibration : {"auto", "temperature"} or None, default="auto"
        Temperature scaling fitted *through the label noise* on the
        validation split, after the ticket is chosen. ``"temperature"``:
        one temperature ``T`` per level maximises the likelihood of the
        noisy validation labels under ``softmax(z / T) @ noise_matrix_``
        (forward correction); predictions are then ``softmax(z / T)``, the
        model's estimate of the *clean* labels, and the predicted classes
        never change. ``"auto"``: ``"temperature"`` when the fit knows the
        noise (``label_noise > 0`` or ``calibration_noise`` given), else
        nothing, since temperature scaling on labels of unknown noise can
        make calibration worse. ``None``: raw logits. ``T`` is folded into
        the network's output layer (the last ``torch.nn.Linear``, which must
        give the logits; checked at the start of ``fit``). The selection of
        the level and every ``val_*`` column of ``imp_path_`` use the raw
        logits. See the user guide, "Calibration".
    calibration_noise : None, float, array-like of shape (n_classes, n_classes) \
            or "estimate", default=None
        The noise already in the ``y`` passed to ``fit``, which the
        calibration corrects for on top of the ``label_noise`` the
        estimator adds (the matrix used is their composition). ``None``:
        ``y`` is clean. A float in ``[0, 1)``: that fraction of the labels
        was replaced by a class drawn uniformly, as ``noise_model=
        "symmetric"`` does. A row-stochastic matrix: row ``i`` is ``P(label
        | true class classes_[i])``; it must leave the true class the most
        likely label. ``"estimate"``: the matrix of the validation labels
        is estimated from them and the chosen ticket's logits
        (:func:`skimp.calibration.estimate_noise_matrix`, symmetric noise
        fitted jointly with ``T``). Checked in ``fit`` even when
        ``calibration=None``, which ignores it.
    **kwargs
        skorch-style prefixed parameters passed to the inner net:
        ``module__*``, ``optimizer__*``, ``criterion__*``, ``callbacks__*``,
        ``iterator_train__*``, ``iterator_valid__*``. For instance
        ``iterator_train__drop_last=True`` skips the short last batch of
        each epoch, which modules with BatchNorm need when it would hold one
        row. skimp sets ``iterator_train__generator`` (from
        ``random_state``) and, for the default MLP, ``module__n_features``,
        ``module__n_classes`` and ``module__hidden_layer_sizes``; passing
        them raises. Other unprefixed names raise at ``fit``, also after
        ``clone``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during fit, ``X.shape[1]``, as scikit-learn
        counts them. For image-like X of shape ``(n, C, H, W)`` it is ``C``,
        not the ``C * H * W`` values of a row. ``predict*`` and ``score``
        take rows of the fitted shape, or the same rows in the other of the
        two layouts: flat rows of ``C * H * W`` columns for a net fitted on
        images, images for one fitted on flat rows, matched in C order (as
        ``images.reshape(n, -1)`` flattens). Other row shapes raise a
        ``ValueError`` that names the fitted one.
    feature_names_in_ : ndarray of shape (n_features,)
        Feature names, when X has string column names.
    net_ : skimp.training.MaskedNet
        The fitted skorch net, holding the chosen ticket, with
        ``temperature_`` folded into its output layer.
    n_threads_ : int or None
        Torch threads ``fit`` trained with, and ``predict*`` use.
    imp_path_ : dict of str to ndarray
        One entry per level run, in the style of ``cv_results_``:
        ``level``, ``density``, ``n_params`` (surviving prunable weights),
        ``epoch`` (the kept epoch, 1-based on the level's own schedule: the
        last, ``max_epochs``, unless ``early_stopping``), ``n_epochs`` (the
        epochs trained at the level), ``train_loss``, ``train_accuracy``,
        ``val_loss``, ``val_accuracy``, ``val_ece`` (15 equal-width bins),
        all of the kept weights, then ``last_train_accuracy``,
        ``last_val_loss`` and ``last_val_accuracy``, of the weights of the
        level's last epoch (equal to the kept ones without
        ``early_stopping``), ``fit_time`` (seconds), then ``temperature``
        and ``last_temperature``, the temperatures of the kept and the last
        weights (1 without ``calibration``).
        Train metrics are on the (noisy) training labels.
    best_level_ : int
        The chosen level.
    temperature_ : float
        The chosen ticket's temperature, ``imp_path_["temperature"]
        [best_level_]``; 1.0 when the fit does not calibrate.
    noise_matrix_ : ndarray of shape (n_classes, n_classes) or None
        ``P(validation label j | true class i)``, the matrix the temperature
        was fitted through: ``calibration_noise`` composed with the
        injected ``label_noise``, or the estimate. None when the fit does
        not calibrate.
    best_epoch_ : int
        The chosen level's kept epoch, ``imp_path_["epoch"][best_level_]``.
    sparsity_ : float
        Fraction of prunable weights removed in the chosen ticket.
    n_params_ : int
        Nonzero prunable weights in the chosen ticket.
    noise_mask_ : ndarray of bool of shape (n_samples,)
        True for the fit rows whose label ``label_noise`` redrew.
    noisy_labels_ : ndarray of shape (n_samples,)
        The labels the fit trained and chose on, after ``label_noise``, as
        values of ``classes_``: ``noisy_labels_[validation_mask_]`` are the
        validation rows' labels, on which a post-hoc calibration of your
        own would be fitted.
    validation_mask_ : ndarray of bool of shape (n_samples,)
        True for the fit rows held out to choose the ticket. The split is
        stratified on the labels as passed to ``fit`` (before ``label_noise``,
        which also reaches these rows) and holds at least one row of every
        class, as does the training side.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Dense MLP without pruning.
    sklearn.calibration.CalibratedClassifierCV : Post-hoc calibration.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skimp import PrunedNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = PrunedNetClassifier(hidden_layer_sizes=(64,), max_epochs=5,
    ...                           max_levels=3, random_state=0).fit(X / 16, y)
    >>> clf.imp_path_["level"].tolist()
    [0, 1, 2, 3]
    >>> clf.predict(X[:3] / 16).shape
    (3,)
    """

    _parameter_constraints = {
        "module": [type, torch.nn.Module, None],
        "hidden_layer_sizes": ["array-like", NotBoolInterval(Integral, 1, None, closed="left"),
                               Hidden(str)],  # refused in _check_settings, with the fix
        "max_epochs": [NotBoolInterval(Integral, 1, None, closed="left")],
        "batch_size": [NotBoolInterval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [type],
        "pruning_fraction": [Interval(Real, 0, 1, closed="neither")],
        "max_levels": [NotBoolInterval(Integral, 0, None, closed="left")],
        "rewind_epoch": [NotBoolInterval(Integral, 0, None, closed="left")],
        "label_noise": [Interval(Real, 0, 1, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "selection": [StrOptions({"accuracy", "loss"}), callable],
        "patience": [NotBoolInterval(Integral, 1, None, closed="left"), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [NotBoolInterval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "n_threads": [NotBoolInterval(Integral, 1, None, closed="left"), StrOptions({"auto"}),
                      None],
        "checkpoint_dir": [str, os.PathLike, None],
        "pruning_criterion": [StrOptions(set(CRITERIA)), callable],
        "pruning_scope": [StrOptions(set(SCOPES))],
        "retrain": [StrOptions({"rewind", "reinit", "lr_rewind"})],
        "noise_model": [StrOptions(set(NOISE_MODELS)), "array-like"],
        "callbacks": [list, None],
        "train_transform": [callable, None],
        "calibration": [StrOptions({"auto", "temperature"}), None],
        "calibration_noise": "no_validation",  # checked in fit, which knows the classes
    }

    def __init__(self, module=None, *, hidden_layer_sizes=(256,), max_epochs=60,
                 batch_size=128, lr=0.1, optimizer=torch.optim.SGD,
                 pruning_fraction=0.2, max_levels=15, rewind_epoch=0,
                 label_noise=0.0, validation_fraction=0.1, selection="accuracy",
                 patience=None, early_stopping=False, n_iter_no_change=None,
                 random_state=None, device="cpu", verbose=0,
                 n_threads="auto", checkpoint_dir=None, pruning_criterion="magnitude",
                 pruning_scope="global", retrain="rewind", noise_model="symmetric",
                 callbacks=None, train_transform=None, calibration="auto",
                 calibration_noise=None, **kwargs):
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.pruning_fraction = pruning_fraction
        self.max_levels = max_levels
        self.rewind_epoch = rewind_epoch
        self.label_noise = label_noise
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.patience = patience
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.n_threads = n_threads
        self.checkpoint_dir = checkpoint_dir
        self.pruning_criterion = pruning_criterion
        self.pruning_scope = pruning_scope
        self.retrain = retrain
        self.noise_model = noise_model
        self.callbacks = callbacks
        self.train_transform = train_transform
        self.calibration = calibration
        self.calibration_noise = calibration_noise
        vars(self).update(kwargs)

    # -- parameters -------------------------------------------------------

    def _net_params(self):
        return {k: v for k, v in vars(self).items() if k.startswith(NET_PREFIXES)}

    def _extra_params(self):
        """Constructor keywords that are not named parameters.

        They are the prefixed net parameters and, until ``fit`` rejects them,
        misspelt names: both are returned by ``get_params`` so that ``clone``
        (and so ``cross_val_score`` and ``GridSearchCV``) carries a typo to
        ``fit``, which raises, instead of dropping it silently.
        """
        named = set(self._get_param_names())
        return {k: v for k, v in vars(self).items()
                if k not in named and not k.endswith("_") and not k.startswith("_")}

    def get_params(self, deep=True):
        """Get parameters, including the skorch-style prefixed ones.

        Parameters
        ----------
        deep : bool, default=True
            Kept for the scikit-learn API; there are no nested estimators.

        Returns
        -------
        params : dict
        """
        return {**super().get_params(deep=deep), **self._extra_params()}

    def set_params(self, **params):
        """Set parameters, including new skorch-style prefixed ones.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : PrunedNetClassifier
        """
        prefixed = {k: v for k, v in params.items() if k.startswith(NET_PREFIXES)}
        vars(self).update(prefixed)
        super().set_params(**{k: v for k, v in params.items() if k not in prefixed})
        return self

    # -- fitting ----------------------------------------------------------

    def _check_settings(self):
        """Checks of the parameters that ``_parameter_constraints`` cannot express.

        Returns
        -------
        hidden_layer_sizes : tuple of int
        """
        unknown = sorted(set(self._extra_params()) - set(self._net_params()))
        if unknown:
            raise TypeError(
                f"PrunedNetClassifier got unexpected parameters {unknown}; extra "
                f"parameters must carry one of the prefixes {list(NET_PREFIXES)}, "
                f"e.g. optimizer__momentum=0.9.")
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, str):
            example = tuple(int(h) for h in re.findall(r"\d+", sizes)) or (64,)
            raise ValueError(f"hidden_layer_sizes={sizes!r} is a string; pass a tuple of "
                             f"ints, e.g. hidden_layer_sizes={example!r}.")
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not sizes or any(not isinstance(h, Integral) or is_bool(h) or h < 1 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must hold integers >= 1, got {self.hidden_layer_sizes!r}.")
        for name in ROUTED_COUNTS:
            value = self._net_params().get(name)
            if is_bool(value):
                raise ValueError(
                    f"{name}={value!r} is a boolean; it is a count of rows and would "
                    f"run as {int(value)}. Pass an int, e.g. {name}=128.")
        if self.rewind_epoch >= self.max_epochs:
            raise ValueError(
                f"rewind_epoch={self.rewind_epoch} must be below max_epochs="
                f"{self.max_epochs}: rewinding needs weights from an epoch "
                f"that is trained before the end of the schedule.")
        if self.n_iter_no_change is not None and not self.early_stopping:
            raise ValueError(
                f"n_iter_no_change={self.n_iter_no_change} needs early_stopping=True: "
                f"a level can only stop where its validation score stopped "
                f"improving if that score is kept. Set early_stopping=True, or "
                f"n_iter_no_change=None.")
        if self.early_stopping and callable(self.selection):
            raise ValueError(
                "early_stopping=True scores every epoch under selection, which must "
                "then be 'accuracy' or 'loss'; a callable selection chooses among "
                "levels only. Use selection='accuracy' or 'loss', or "
                "early_stopping=False.")
        check_training_settings(self.optimizer, self.device, self.callbacks)
        if self.checkpoint_dir is not None and not isinstance(self.random_state, Integral):
            raise ValueError(
                f"checkpoint_dir needs an int random_state (got "
                f"{self.random_state!r}): a resumed run must redraw the same "
                f"initial weights, label noise and validation split.")
        return sizes

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, **fit_params):
        """Fit the network by IMP and keep the best ticket.

        The fitted attributes are set only when the fit succeeds: a fit that
        raises leaves a fitted estimator as it was, and a fresh one unfitted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Custom modules may take more dimensions.
        y : array-like of shape (n_samples,)
            Class labels.
        **fit_params : dict
            Only ``sample_weight=None`` is accepted: IMP does not support
            sample weights. Repeat or resample the rows instead. ``fit``
            declares no ``sample_weight``, so scikit-learn's meta-estimators
            (``BaggingClassifier``) pass it rows, not weights.

        Returns
        -------
        self : PrunedNetClassifier
            The fitted estimator.
        """
        check_fit_params(fit_params)
        # validate_data sets n_features_in_ and feature_names_in_ as it goes;
        # everything else is computed locally and assigned at the end.
        before = dict(vars(self))
        try:
            fitted = self._fit(X, y)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        vars(self).update(fitted)
        return self

    def _fit(self, X, y):
        """Run the whole fit; return the fitted attributes."""
        hidden = self._check_settings()
        with explain_string_features():
            X, y = validate_data(self, X, y, dtype=(np.float32, np.float64),
                                 allow_nd=self.module is not None, ensure_min_samples=2)
        # Any numpy layout (X[::-1], flipped images X[..., ::-1], Fortran
        # order) trains as its C-ordered copy does: torch cannot wrap negative
        # strides, and the checkpoint key hashes the array's bytes.
        X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(
                f"PrunedNetClassifier needs at least 2 classes, but y holds only "
                f"one class ({classes[0]!r}).")
        rng = check_random_state(self.random_state)
        noise_seed, split_seed, torch_seed = rng.randint(np.iinfo(np.int32).max, size=3)
        try:
            train_idx, val_idx = validation_split(y_idx, classes, self.validation_fraction,
                                                   split_seed)
        except ValueError as exc:
            if not self.early_stopping:
                raise
            raise ValueError(f"{exc} (early_stopping=True scores this split after "
                             f"every epoch.)") from exc
        params = self._net_params()
        warn_small_last_batch(len(train_idx),
                              params.get("iterator_train__batch_size", self.batch_size),
                              drop_last=params.get("iterator_train__drop_last", False))
        y_noisy, noise_mask = apply_label_noise(
            y_idx, self.label_noise, model=self.noise_model, n_classes=n_classes,
            random_state=noise_seed)
        calibrating, noise_matrix = self._calibration_setting(n_classes)

        device = torch.device(self.device)
        # A copy: X may be a read-only memmap, which torch cannot wrap.
        Xt = torch.tensor(X, dtype=torch.float32, device=device)
        yt = torch.as_tensor(y_noisy, dtype=torch.long, device=device)
        data = (Xt[train_idx], yt[train_idx], Xt[val_idx], yt[val_idx])

        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(torch_seed)
            net = build_net(
                self.module, n_classes=n_classes, random_state=torch_seed,
                max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                optimizer=self.optimizer, device=device, verbose=self.verbose,
                hidden_layer_sizes=hidden, input_shape=X.shape[1:],
                train_transform=self.train_transform, callbacks=self.callbacks,
                **self._net_params())
            check_callbacks(net, self.rewind_epoch, early_stopping=self.early_stopping)
            multiply_adds = check_output_width(net.module_, data[0][:2], n_classes)
            if calibrating:
                output_layer(net.module_, data[0][:2])  # fails before training, not after
            prunable = prunable_weights(net.module_)
            store = None
            if self.checkpoint_dir is not None:
                store = CheckpointStore(self.checkpoint_dir, run_key(
                    self.get_params(), X, y, module=net.module_))
            n_threads = resolve_threads(self.n_threads, net.module_, self.batch_size,
                                        multiply_adds=multiply_adds)
            with torch_threads(n_threads):
                runner = ImpRunner(
                    net, prunable, data, max_epochs=self.max_epochs,
                    rewind_epoch=self.rewind_epoch, pruning_fraction=self.pruning_fraction,
                    max_levels=self.max_levels, patience=self.patience,
                    selection=self.selection, early_stopping=self.early_stopping,
                    n_iter_no_change=self.n_iter_no_change, criterion=self.pruning_criterion,
                    scope=self.pruning_scope, retrain=self.retrain, seed=torch_seed,
                    verbose=self.verbose, store=store)
                result = runner.run()
                path = dict(result.path)
                temperature = 1.0
                if calibrating:
                    kept, last, noise_matrix = _fit_temperatures(
                        runner, result, data[2], data[3], noise_matrix)
                    temperature = kept[result.best_level]
                    fold_temperature(net.module_, temperature)
                else:
                    kept = last = np.ones(len(result.states))
                path["temperature"] = np.asarray(kept, dtype=float)
                path["last_temperature"] = np.asarray(last, dtype=float)
        if result.interrupted:
            warnings.warn(
                f"fit was interrupted during IMP level {len(result.states)}; keeping "
                f"the best of the {len(result.states)} finished levels (level "
                f"{result.best_level}).", UserWarning, stacklevel=3)
        best = result.best_level
        if best == self.max_levels > 0:
            warnings.warn(
                f"The chosen ticket is the last level run (level {best}, max_levels="
                f"{self.max_levels}): sparser tickets might do better on the validation "
                f"split. Raise max_levels; with checkpoint_dir, a rerun trains only the "
                f"new levels.", ConvergenceWarning, stacklevel=3)
        return {
            "classes_": classes,
            "noise_mask_": noise_mask,
            "noisy_labels_": classes[y_noisy],
            "validation_mask_": np.isin(np.arange(len(y_idx)), val_idx),
            "net_": net,
            "n_threads_": n_threads,
            "imp_path_": path,
            "temperature_": float(temperature),
            "noise_matrix_": noise_matrix if calibrating else None,
            "best_level_": best,
            "best_epoch_": int(result.path["epoch"][best]),
            "n_params_": int(result.path["n_params"][best]),
            "sparsity_": 1.0 - float(result.path["density"][best]),
            "_level_states": result.states,
            "_input_shape": tuple(X.shape[1:]),
        }

    def _calibration_setting(self, n_classes):
        """Whether the fit calibrates, and the noise matrix of its validation labels.

        The matrix is None when it is to be estimated (``calibration_noise=
        "estimate"``) or when the fit does not calibrate. A bad
        ``calibration_noise`` raises either way, before any training. Known
        noise that no temperature can be fitted through (more than half the
        labels of a class flipped to one other class) raises with
        ``calibration="temperature"``, and with ``"auto"`` leaves the fit
        uncalibrated, with a warning that says why.
        """
        noise = self.calibration_noise
        estimate = _is_estimate(noise)
        if not estimate:
            calibration_noise_matrix(noise, np.eye(n_classes), n_classes)  # checks it alone
        if self.calibration == "auto":
            calibrating = self.label_noise > 0 or noise is not None
        else:
            calibrating = self.calibration == "temperature"
        if not calibrating or estimate:
            return calibrating, None
        injected = noise_transition_matrix(self.noise_model, n_classes, self.label_noise)
        try:
            return True, calibration_noise_matrix(noise, injected, n_classes)
        except ValueError as exc:
            if self.calibration != "auto":
                raise
            warnings.warn(f"calibration='auto' leaves this fit uncalibrated: {exc}",
                          UserWarning, stacklevel=4)
            return False, None

    # -- prediction -------------------------------------------------------

    def _logits(self, X, module=None):
        check_is_fitted(self)
        X = torch.as_tensor(self._validate_rows(X), dtype=torch.float32)
        with torch_threads(self.n_threads_), torch.no_grad():
            if module is None:
                return self.net_.forward(X, device="cpu").double()
            device = next(module.parameters()).device
            step = INFERENCE_BATCH_SIZE
            return torch.cat([module(X[i:i + step].to(device)).cpu()
                              for i in range(0, len(X), step)]).double()

    def _validate_rows(self, X):
        """X as a C-ordered, writeable float array of rows of the fitted shape."""
        if self.module is not None:
            X = to_fitted_layout(X, self._input_shape)
        with explain_string_features():
            X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64),
                              allow_nd=self.module is not None)
        if X.shape[1:] != self._input_shape:
            raise ValueError(row_shape_message(X.shape[1:], self._input_shape))
        if not (X.flags.c_contiguous and X.flags.writeable):
            # torch cannot wrap negative strides (X[::-1], flipped images) and
            # warns on read-only memory (pandas copy-on-write frames, joblib
            # memmaps); a C-ordered copy also gives Fortran-ordered X exactly
            # the products of a C-ordered one. Cheap next to the net.
            X = np.array(X, dtype=np.float32, order="C")
        return X

    def decision_function(self, X):
        """Logits of the chosen ticket, divided by ``temperature_``.

        ``predict_proba`` is their softmax. With ``calibration=None``
        ``temperature_`` is 1 and these are the network's raw logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For binary problems, the logit of ``classes_[1]`` minus that of
            ``classes_[0]``, as scikit-learn expects.
        """
        logits = self._logits(X).numpy()
        if len(self.classes_) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities of the chosen ticket: ``softmax(logits / temperature_)``.

        With calibration (``temperature_ != 1``) they estimate the *clean*
        labels' distribution; see the ``calibration`` parameter.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict(self, X):
        """Predicted class labels, taken from ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        indices = self._logits(X).argmax(1).numpy()
        return self.classes_[indices]

    def calibration_report(self, X, y, *, n_bins=15, strategy="uniform"):
        """Calibration of the chosen ticket on (X, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels, from ``classes_``.
        n_bins : int, default=15
            Bins of the binned metrics.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width or equal-mass bins.

        Returns
        -------
        report : dict
            See :func:`skimp.metrics.calibration_report`: ``ece``, ``mce``,
            ``classwise_ece``, ``brier``, ``nll``, ``accuracy``,
            ``mean_confidence`` and ``overconfidence``.
        """
        return metrics.calibration_report(y, self.predict_proba(X), n_bins=n_bins,
                                          strategy=strategy, labels=self.classes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _fit_temperatures(runner, result, X_val, y_val, noise_matrix):
    """Each level's temperature, for its kept and its last weights.

    Every level is a model the user can take, so each gets its own
    temperature, fitted on the same noisy validation rows through the same
    noise matrix. With ``noise_matrix=None`` the matrix is first estimated
    from the chosen ticket (``calibration_noise="estimate"``). The runner's
    net is left holding the chosen ticket, uncalibrated.

    Returns
    -------
    kept, last : list of float
    noise_matrix : ndarray of shape (n_classes, n_classes)
    """
    y = y_val.cpu().numpy()
    if noise_matrix is None:
        noise_matrix = estimate_noise_matrix(runner.level_logits(result.best_level, X_val), y)
    kept, last = [], []
    for state in result.states:
        kept.append(fit_temperature(runner.level_logits(state.level, X_val), y, noise_matrix))
        if state.final_weights is None:
            last.append(kept[-1])
        else:
            logits = runner.level_logits(state.level, X_val, epoch="last")
            last.append(fit_temperature(logits, y, noise_matrix))
    runner.load_level(result.best_level)
    return kept, last, noise_matrix
