"""Build script: the pybind11 extension ``posekit._pafprocess`` (the C++ PAF grouping).

Metadata lives in pyproject.toml; this file only declares the compiled module, so that
``pip install .`` and ``pip install -e .`` always build it (with -O3).
"""

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext_modules = [
    Pybind11Extension(
        "posekit._pafprocess",
        sources=["pafprocess_cpp/pafprocess.cpp", "pafprocess_cpp/bindings.cpp"],
        include_dirs=["pafprocess_cpp"],
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
