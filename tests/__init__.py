"""The test suite (a package, so `tests.official` etc. resolve here and not to a `tests`
package some dependency installs into site-packages, as opensimplex 0.4.5.1 does)."""
