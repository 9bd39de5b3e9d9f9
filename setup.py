"""Install m2f_mm. The full set-up (torch, compiled mmcv) is tools/setup_env.sh.

m2f_mm's CPU deformable-attention kernel (m2f_mm/ops/csrc) is compiled against
the installed torch, so install without build isolation:
``pip install --no-build-isolation -e .``.
"""
import os.path as osp
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Return the requirement lines of requirements/<name>.txt."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def host_requirement(name):
    """The requirements/mminstall.txt line of host library ``name`` (mmdet, mmsegmentation)."""
    return [r for r in read_requirements('mminstall') if r.startswith(name)]


def read_version():
    scope = {}
    with open(osp.join(HERE, 'm2f_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def cpu_extension():
    """The C++ CPU kernel's build settings; without torch no build is possible,
    which stops the install with the command that works."""
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:
        sys.exit('m2f_mm: setup.py compiles a C++ op against torch, which this build '
                 'environment lacks; install torch, then '
                 '`pip install --no-build-isolation -e .` (or run tools/setup_env.sh)')
    # -fopenmp: torch's at::parallel_for runs serially in code compiled without it.
    ext = CppExtension('m2f_mm.ops._ms_deform_attn_cpu',
                       ['m2f_mm/ops/csrc/ms_deform_attn_cpu.cpp'],
                       extra_compile_args=['-O3', '-fopenmp'], extra_link_args=['-fopenmp'])
    return dict(ext_modules=[ext], cmdclass={'build_ext': BuildExtension})


setup(
    name='m2f_mm',
    version=read_version(),
    description='Mask2Former for mmdetection and mmsegmentation',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.8',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
    # The host libraries are extras: an mmseg user needs no mmdet, and the reverse.
    install_requires=read_requirements('runtime') + [
        r for r in read_requirements('mminstall') if not r.startswith(('mmdet', 'mmseg'))],
    extras_require={
        'mmdet': host_requirement('mmdet'),
        'mmseg': host_requirement('mmsegmentation'),
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    license='Apache License 2.0',
    zip_safe=False,
    **cpu_extension(),
)
