"""Foundation shared by every chargebay part: settings, logging, the database engine."""
