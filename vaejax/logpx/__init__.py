"""Estimating log p(x): importance sampling, AIS and BDMC, quadrature, and a method of choice."""
