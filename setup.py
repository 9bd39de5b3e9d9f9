"""Install m2f_mm. The full set-up (torch, compiled mmcv) is tools/setup_env.sh."""
import os.path as osp

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
)
