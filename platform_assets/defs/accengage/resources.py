"""The Accengage SFTP server, configured from ``ACCENGAGE_SFTP_*`` environment variables."""

from platform_assets.lib.factory import sftp_resource_key
from platform_assets.lib.settings import sftp_from_env

SOURCE = "accengage"
resources = {sftp_resource_key(SOURCE): sftp_from_env(SOURCE.upper())}
