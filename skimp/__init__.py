from skimp.noise import symmetric_label_noise  # noqa: F401
