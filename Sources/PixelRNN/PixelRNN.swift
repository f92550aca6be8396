import CBLAS
import CZlib
import Imaging
