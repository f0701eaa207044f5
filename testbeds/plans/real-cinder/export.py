#!/usr/bin/python3
"""Export one file-backed volume through Debian's real cinder tgt target driver.

    export.py [--config-file /etc/cinder/cinder.conf] VOLUME_ID BACKING_FILE

What cinder-volume does on create_export for an LVM backend with target_helper = tgtadm,
minus the parts a testbed cannot have (the database, the message bus, LVM):

- cinder's own option registry reads the config file; the backend is the first of
  [DEFAULT] enabled_backends, and its options come from that section, falling back to
  [backend_defaults], exactly as VolumeManager builds its Configuration. (Since Ocata a
  driver option in [DEFAULT] is not read for a backend: iscsi_write_cache belongs in the
  backend's section.)
- the real volume driver class named by `volume_driver` (LVMVolumeDriver) is constructed,
  and it picks the target driver from `target_helper` (TgtAdm);
- oslo.privsep runs in-process (we are root in the testbed, there is no privsep-helper
  daemon to spawn): sys_admin_pctxt.set_client_mode(False);
- CHAP credentials are generated as ISCSITarget.create_export does for a new volume, then
  TgtAdm.create_iscsi_target() writes <volumes_dir>/volume-<id> and runs
  `tgt-admin --update <iqn>`; it checks `tgt-admin --show` for the target and LUN 1.

The LUN is BACKING_FILE, a plain file: testbeds have no device-mapper.
Prints the IQN, then one line of JSON. Exit 0 when tgt exports the target, 1 when cinder
raised, 2 on a bad config (no enabled_backends, an iscsi_write_cache outside on/off).
"""

import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--config-file', default='/etc/cinder/cinder.conf')
    ap.add_argument('volume_id')
    ap.add_argument('backing_file')
    args = ap.parse_args()

    from oslo_config import cfg
    from oslo_utils import importutils

    # Importing these registers the options cinder-volume knows (common, volume, LVM);
    # the versioned objects come first, as in cinder.cmd.volume.main().
    from cinder import objects
    objects.register_all()
    import cinder.common.config  # noqa: F401
    import cinder.privsep
    from cinder.volume import configuration
    from cinder.volume import manager
    from cinder.volume import volume_utils

    conf = cfg.CONF
    conf(['--config-file', args.config_file], project='cinder', default_config_files=[])
    backends = [b for b in conf.enabled_backends or [] if b]
    if not backends:
        print('export.py: %s: [DEFAULT] enabled_backends names no backend' % args.config_file,
              file=sys.stderr)
        return 2
    backend = backends[0]

    cinder.privsep.sys_admin_pctxt.set_client_mode(False)

    backend_conf = configuration.Configuration(manager.volume_backend_opts,
                                               config_group=backend)
    driver_cls = importutils.import_class(backend_conf.volume_driver)
    try:
        drv = driver_cls(configuration=backend_conf, host='srukit@%s' % backend)
        write_cache = backend_conf.safe_get('iscsi_write_cache')
    except (cfg.ConfigFileValueError, ValueError) as e:
        print('export.py: %s: %s' % (args.config_file, e), file=sys.stderr)
        return 2
    target = drv.target_driver

    volume_name = conf.volume_name_template % args.volume_id
    iqn = '%s%s' % (backend_conf.target_prefix, volume_name)
    chap_auth = (volume_utils.generate_username(), volume_utils.generate_password())
    try:
        tid = target.create_iscsi_target(iqn, 0, 1, args.backing_file, chap_auth)
    except Exception as e:  # cinder's own exceptions: report, as the volume service logs
        print('export.py: create_iscsi_target: %s: %s' % (type(e).__name__, e),
              file=sys.stderr)
        return 1

    print(iqn)
    print(json.dumps({
        'iqn': iqn,
        'tid': tid,
        'backend': backend,
        'volume_driver': backend_conf.volume_driver,
        'target_driver': '%s.%s' % (type(target).__module__, type(target).__name__),
        'iscsi_write_cache': write_cache,
        'target_file': os.path.join(target.volumes_dir, volume_name),
        'backing_file': args.backing_file,
        'provider_auth': 'CHAP %s %s' % chap_auth,
    }, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
