"""What a fitted ``PrunedNetClassifier`` tells about its levels.

:class:`TicketsMixin` holds the estimator's methods that read the stored
levels rather than fit or predict with the chosen ticket: a copy of the
network at any level, its per-layer summary, the compact module, and
predictions and scores along the IMP path. It relies on the fitted
estimator's ``net_``, ``imp_path_``, ``best_level_``, ``classes_``, its
stored level states and its ``_logits``.
"""

import copy
from numbers import Integral

import torch
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted

from skimp.calibration import fold_temperature
from skimp.compact import compact

__all__ = ["TicketsMixin"]


class TicketsMixin:
    """The level-reading methods of :class:`skimp.PrunedNetClassifier`."""

    def level_module(self, level, *, epoch="kept", calibrated=True):
        """A copy of the network as trained at IMP ``level``.

        Parameters
        ----------
        level : int
            A value of ``imp_path_["level"]``.
        epoch : {"kept", "last"}, default="kept"
            ``"kept"``: the weights the level keeps, those of epoch
            ``imp_path_["epoch"][level]``; ``"last"``: those of its last
            epoch trained. They differ only with ``early_stopping=True``.
        calibrated : bool, default=True
            Fold the level's own temperature (``imp_path_["temperature"]``,
            or ``"last_temperature"`` with ``epoch="last"``) into the output
            layer, so the module returns the logits that
            ``staged_predict_proba`` takes the softmax of, and, at the chosen
            level, those of ``decision_function``. ``False`` gives the
            weights as trained. The two are the same with
            ``calibration=None``.

        Returns
        -------
        module : torch.nn.Module
            In eval mode, on the fitted device; pruned weights are exactly 0.
        """
        state = self._level_state(level)
        if epoch not in ("kept", "last"):
            raise ValueError(f"epoch must be 'kept' or 'last', got {epoch!r}.")
        module = copy.deepcopy(self.net_.module_)
        module.load_state_dict(state.state_dict(epoch))
        if calibrated:
            column = "temperature" if epoch == "kept" else "last_temperature"
            # Estimators pickled before calibration existed have no column.
            temperatures = self.imp_path_.get(column)
            if temperatures is not None:
                fold_temperature(module, float(temperatures[level]))
        return module.eval()

    def _level_state(self, level):
        """The stored state of ``level``, after checking that it is one."""
        check_is_fitted(self)
        if (not isinstance(level, Integral) or isinstance(level, bool)
                or level not in range(len(self._level_states))):
            raise ValueError(f"level must be an int, one of "
                             f"{self.imp_path_['level'].tolist()}, got {level!r}.")
        return self._level_states[level]

    def layer_summary(self, level=None):
        """Per-layer view of a ticket: what survives in each prunable layer.

        Parameters
        ----------
        level : int, default=None
            A value of ``imp_path_["level"]``; ``None`` is the chosen ticket.

        Returns
        -------
        summary : dict of str to ndarray
            One entry per prunable weight, in module order, ready for
            ``pandas.DataFrame``: ``layer`` (parameter name), ``shape``,
            ``n_weights``, ``n_alive``, ``density``, ``dead_inputs`` (input
            units or channels with no surviving weight in this layer) and
            ``dead_outputs`` (output units or channels with none).
        """
        check_is_fitted(self)
        return self._level_state(self.best_level_ if level is None else level).mask.summary()

    def compact_module(self):
        """The chosen ticket, rebuilt small for fast CPU inference.

        Dead units and channels are removed (one with no incoming weights is
        folded into the next layer as the constant it outputs), BatchNorm is
        folded into the convolution before it, and the remaining weights are
        stored densely or, where a layer is sparse enough, sparsely. See
        :func:`skimp.compact.compact`, which also takes options.

        Returns
        -------
        module : skimp.compact.CompactMLP or skimp.compact.CompactConvNet
            Computes the same logits as the ticket (``decision_function``
            before the binary reduction), up to float32 rounding. In eval
            mode, on the CPU whatever the fitted device, picklable, and
            exportable with ``torch.export``.

        Raises
        ------
        TypeError
            If the network is neither an MLP of Linear and ReLU layers nor a
            plain convolutional net (conv, BatchNorm, ReLU, max-pooling,
            flatten, linear) such as :class:`skimp.modules.ConvNet`; residual
            nets such as :class:`skimp.modules.ResNet20` are not supported.
        """
        check_is_fitted(self)
        return compact(self.net_.module_, input_shape=self._input_shape)

    def staged_predict_proba(self, X, *, epoch="kept"):
        """Class probabilities at every IMP level, level 0 first.

        Like ``staged_predict_proba`` of sklearn's boosting models, this
        traces how predictions evolve, here along the pruning path.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        epoch : {"kept", "last"}, default="kept"
            Each level's kept weights, or those of its last epoch (see
            :meth:`level_module`).

        Yields
        ------
        proba : ndarray of shape (n_samples, n_classes)
            Each level's ``softmax(logits / T)`` with its own temperature
            (see :meth:`level_module`); at the chosen level, with
            ``epoch="kept"``, this is ``predict_proba``.
        """
        for level in self.imp_path_["level"]:
            module = self.level_module(int(level), epoch=epoch)
            yield torch.softmax(self._logits(X, module), dim=1).numpy()

    def staged_score(self, X, y):
        """Accuracy on (X, y) at every IMP level, level 0 first.

        Like ``staged_score`` of sklearn's boosting models: the sparse double
        descent curve on held-out data is ``list(clf.staged_score(X, y))``
        against ``imp_path_["n_params"]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels, from ``classes_``.

        Yields
        ------
        score : float
        """
        for proba in self.staged_predict_proba(X):
            yield accuracy_score(y, self.classes_[proba.argmax(1)])
