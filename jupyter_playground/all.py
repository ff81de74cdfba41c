"Every public name of jupyter_playground: `from jupyter_playground.all import *`"
# Hand-written (not exported from a notebook): it only gathers the exported modules.
from .server import *
from .gateway import *
from .auth import *
from .contents import *
from .sessions import *
from .messages import *
from .execution import *
from .flows import *
from .kernel import *
from .drivers import *
from .channels import *
from .comms import *
from .terminals import *
from .events import *
from .debugger import *
from .rest import *
from .saves import *
from .notebooks import *
from .trace import *
from .hub import *
