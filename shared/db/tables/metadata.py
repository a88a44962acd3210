"""The one ``MetaData`` every mailpipe table is registered on (see the package)."""

from sqlalchemy import MetaData

metadata = MetaData()
