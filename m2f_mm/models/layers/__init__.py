from .ms_deform_attn import MSDeformAttn
from .positional_encoding import SinePositionalEncoding

__all__ = ['MSDeformAttn', 'SinePositionalEncoding']
