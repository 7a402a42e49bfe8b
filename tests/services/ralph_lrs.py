"""
Ralph's LRS on 127.0.0.1 with the filesystem backend, for the tests.

Ralph's filesystem backend creates its statements file on the first write and refuses the
next one (its default operation is CREATE): this launcher makes it APPEND, then serves
``ralph.api:app`` with uvicorn. Configuration comes from the environment (RALPH_*).

    python tests/services/ralph_lrs.py PORT
"""

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.data.fs import FSDataBackend

if __name__ == "__main__":
    FSDataBackend.default_operation_type = BaseOperationType.APPEND
    uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
