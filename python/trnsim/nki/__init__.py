"""trnsim's NKI front end: runs an NKI kernel against shim modules and records a trnsim trace."""
