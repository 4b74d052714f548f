"""The Postscript SFTP server, configured from ``POSTSCRIPT_SFTP_*`` environment variables."""

from platform_assets.lib.factory import sftp_resource_key
from platform_assets.lib.settings import sftp_from_env

SOURCE = "postscript"
resources = {sftp_resource_key(SOURCE): sftp_from_env(SOURCE.upper())}
