"""Agents: profiles (skills, capacity, team), states and live presence."""
