"""Redis 7 as a faultline system under test, packaged outside faultline as a plug-in."""
