"""fedras: FedRAS (adaptive action sharing) federated recommendation, with a C++/CUDA core.

Subpackages: ``data`` (data sets and splits), ``codec`` (the binary wire format),
``models``, ``compression`` (FedRAS and baselines), ``protocol`` (client/server roles),
``engine`` (simulation), ``cli``.
"""
__version__ = "0.1.0"
