"""Sample export files of every supported format (invented people), used by `audience demo`.

Installed as the package data `backup.examples`.
"""
