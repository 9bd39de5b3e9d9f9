"""Converters from the official download layouts of ADE20K, Cityscapes and Mapillary
Vistas to the COCO-format files m2f_mm's datasets read (the command lines are in
``tools/dataset_converters/``)."""
from .ade20k import convert_ade20k
from .cityscapes import convert_cityscapes
from .mapillary_vistas import convert_mapillary_vistas

__all__ = ['convert_ade20k', 'convert_cityscapes', 'convert_mapillary_vistas']
