"""What every display shares: the matplotlib check and the legend label."""


def check_matplotlib_support(caller_name):
    """Raise an informative ImportError when matplotlib is missing.

    Parameters
    ----------
    caller_name : str
        The method that needs matplotlib, named in the message.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib. You can install matplotlib with "
            "`pip install matplotlib` or `pip install skimp[plot]`."
        ) from e


def legend_label(name, ece):
    """``"name (ECE = 0.123)"``, or only the ECE when ``name`` is None."""
    if name is None:
        return f"ECE = {ece:.3f}"
    return f"{name} (ECE = {ece:.3f})"
