"""In-memory implementations of the storage ports (pure Python, no SQL).

For tests and for trying a service without a database. Each passes the same
contract suite as the SQL stores (``tests/test_storage_contract.py``,
``tests/test_ports_contract.py``). All stores made from one
:class:`MemoryState` share its data and its transactions.
"""

from tahaluf.storage.memory.banks import MemoryRepository
from tahaluf.storage.memory.state import MemoryChange, MemoryState, MemoryUnitOfWork

__all__ = ["MemoryChange", "MemoryRepository", "MemoryState", "MemoryUnitOfWork"]
