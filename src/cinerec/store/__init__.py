"""Storage: SQLAlchemy 2 models, engines, the importer and the snapshot bridge.

The only package that writes SQL.
"""
