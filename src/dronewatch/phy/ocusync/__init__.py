"""DJI DroneID over OcuSync: OFDM receiver/transmitter and the LTE channel coding it uses.

Modules: ``crc`` (CRC-24A, DJI CRC-16), ``turbo`` (LTE turbo code K=1408), ``ratematch``
(TS 36.212 rate matching), ``coding`` (the transport-block chain the PHY calls).

PHY: ``numerology`` (rates, layouts), ``scrambler`` (LTE Gold sequence), ``zc`` (reference
symbols), ``ofdm`` (QPSK, (de)modulation), ``resample`` (any rate <-> 15.36 MS/s), ``detect``
(cheap wide-band burst detector), ``sync`` (timing, CFO, layout), ``equalise`` (channel and
noise estimate), ``demod`` (soft QPSK), ``receiver`` (IQ stream -> bursts), ``transmitter``
(payload -> IQ), ``channel`` (impairment models for synthetic captures).
"""
