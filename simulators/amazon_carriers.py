"""Amazon's CarrierCode enumeration for order-fulfillment feeds: every value `amzn-base.xsd`
allows (377 distinct values; the schema lists some twice), case-sensitive.

Taken from the public copy the specs README names (../shared/specs/amazon/README.md, "XSDs"):
GitHub `abuzuhri/Amazon-SP-API-CSharp`, `Source/FikaAmazonAPI/ConstructFeed/xsd/amzn-base.xsd`,
commit 5014d37101c13406daa2b63bae940d16ef06000e, element `CarrierCode`. Only the values are
kept here (a fact list the simulator checks against), not the schema itself. The connector's
own table (connectors/amazon/mapping.py) is deliberately not used: the simulator must refuse
what Amazon refuses, whatever the connector believes.
"""

from __future__ import annotations

CARRIER_CODES = frozenset(
    {
        '4PX', 'A-1', 'AAA Cooper', 'ABF', 'AFL/Fedex', 'ALLJOY', 'AMAUK', 'AMZL', 'AMZL_UK', 'AO',
        'AO Deutschland', 'APC', 'APC Overnight', 'APC-Overnight', 'AT POST', 'AT Post', 'ATS',
        'AUSSIE_POST', 'Amazon Shipping', 'Andere', 'Aramex', 'Aras Kargo', 'Arco Spedizioni',
        'Arkas', 'Arrow XL', 'Asendia', 'Asgard', 'Assett', 'Australia Post',
        'Australia Post-ArticleId', 'Australia Post-Consignment', 'B2C', 'B2C Europe', 'BJS',
        'BPOST', 'BRT', 'Balnak', 'Bartolini', 'Beijing Quanfeng Express', 'Best Buy',
        'Best Express', 'Blue Package', 'BlueDart', 'Bombax', 'CBL', 'CDC', 'CELERITAS', 'CEVA',
        'CNE', 'COLIS PRIVE', 'CTT EXPRESS', 'CTTExpress', 'Canada Post', 'CargoLine', 'Caribou',
        'Cart2India', 'Centex', 'Ceva Lojistik', 'China Post', 'Chrono Express', 'Chronopost',
        'Chukou1', 'Cititrans', 'City Link', 'Citypost', 'Coliposte', 'Colis Prive', 'Colissimo',
        'Consegna Mezzi Propri', 'Conway', 'Correios', 'Correos', 'Correos Express',
        'Couriers Please', 'CouriersPlease', 'Cubyn', 'DACHSER', 'DACSHER', 'DASCHER',
        'DB Schenker', 'DEL Deliveries', 'DHL', 'DHL Express', 'DHL Freight', 'DHL Global Mail',
        'DHL Home Delivery', 'DHL Kargo', 'DHL eCommerce', 'DHL-Paket', 'DHLPL', 'DPB', 'DPD',
        'DPD Local', 'DSV', 'DTDC', 'DX', 'DX Express', 'DX Freight', 'DX Secure',
        'DYNAMIC EXPRESS', 'Delhivery', 'Delivengo', 'Delivery Group', 'Der Kurier',
        'Deutsche Post', 'Digital Delivery', 'DirectLog', 'Dotzot', 'ECMS', 'EINSA SOURCING',
        'EKI Trans', 'EUB', 'Ecom Express', 'Emirates Post', 'Emons', 'Endopack', 'Energo',
        'Envialia', 'Equick', 'Estafeta', 'Estes', 'Europaczka', 'Exapaq', 'FAST EST', 'FEDEX_JP',
        'FERCAM', 'FRACHTPOST', 'FRANCE EXPRESS', 'Fastway', 'FedEx', 'FedEx SmartPost',
        'Fedex Freight', 'Fercam', 'Fillo Kargo', 'First Flight', 'First Flight China',
        'First Mile', 'France Express', 'GEL', 'GEL Express', 'GEODIS', 'GFS', 'GLS', 'GO!',
        'GRUPO LOGISTIC', 'Gati', 'Geodis Calberson', 'Geopost Kargo', 'HRP', 'HS code',
        'Hellmann', 'Heppner', 'Hermes', 'Hermes (Corporate)', 'Hermes Einrichtungsservice',
        'Hermes Logistik Gruppe', 'Hermes UK', 'Hlog', 'Home Logistics', 'Hongkong Post',
        'Horoz Lojistik', 'Hotpoint Logistics', 'HubEurope', 'Hunter Logistics', 'Huxloe',
        'Huxloe Logistics', 'ICC Worldwide', 'IDS', 'IDS Netzwerk', 'ITD Global', 'InPost',
        'India Post', 'Interlink', 'Interno', 'Intersoft', 'JCEX', 'JPL UPU', 'JP_EXPRESS',
        'Japan Post', 'Jersey Post', 'KEAVO', 'Kargokar', 'Kuehne Nagel', 'Kuehne+Nagel',
        'Kybotech', 'La Poste', 'Landmark', 'Landmark Global', 'Lasership', 'Liccardi', 'MBE',
        'MHI', 'MNG Kargo', 'MRW', 'MZZ Briefdienst', 'MZZ-Briefdienst', 'Mail Alliance',
        'Mainpost', 'Metro Kargo', 'Mezzi propri', 'Milkman', 'Mondial Relay', 'NACEX', 'NITTSU',
        'NOVEO', 'NTL', 'Nacex', 'Narpost Kargo', 'Newgistics', 'Nexive', 'Ninjavan',
        'NipponExpress', 'OCS Worldwide', 'ONTIME', 'OSM', 'Old Dominion', 'OnTrac',
        'OneWorldExpress', 'Other', 'Otro', 'Overnite Express', 'PARCEL2GO.COM', 'PDC Logistics',
        'PIN', 'PTT Kargo', 'PUROLATOR', 'Palletline', 'Palletways', 'Panther', 'Parcel Hub',
        'Parcel Monkey', 'Parcel Station', 'Parcel2go', 'ParcelDenOnline', 'ParcelOne',
        'Parcelforce', 'Parcelhub', 'Parcelink Logistics', 'Parcelnet', 'Pilot', 'Pilot Freight',
        'Polish Post', 'Post Modern', 'Post NL', 'PostNL', 'PostNord', 'Poste Italiane',
        'Professional', 'QExpress', 'Qxpress', 'R+L', 'RBNA', 'REDUR', 'RMLGB', 'ROYAL_MAIL',
        'RR Donnelley', 'Raben', 'Raben Group', 'Rhenus', 'Rieck', 'Rivigo', 'Roadrunner',
        'Royal Mail', 'SAGAWA', 'SDA', 'SEINO TRANSPORTATION', 'SENDLE', 'SF Express', 'SFC',
        'SPRING', 'STG', 'STO Express', 'Safexpress', 'SagawaExpress', 'Saia', 'Sailpost',
        'Schweizer Post', 'Seino', 'Selem Kargo', 'Self Delivery', 'Sendcloud', 'Sending',
        'Sendle', 'Seur', 'Seven Senders', 'Ship Delight', 'Ship Global US', 'ShipEconomy',
        'ShipGlobal', 'Shipmate', 'Shree Maruti Courier', 'Shree Tirupati Courier',
        'Shunfeng Express', 'Singapore Post', 'Smartmail', 'Sonstige',
        'South Eastern Freight Lines', 'Speedex', 'Spoton', 'Spring GDS', 'Sprint',
        'Stahlmann and Sachs', 'Stampit', 'StarTrack-ArticleID', 'StarTrack-Consignment',
        'Streamlite', 'Sunyou', 'Susa', 'Swiss post', 'Szendex', 'TDN', 'TIPSA', 'TNT',
        'TNT Kargo', 'TNTIT', 'TSB', 'TWS', 'TXT', 'Target', 'Tezel Lojistik',
        'The Delivery Group', 'The Professional Couriers', 'Toll Global Express', 'Total Express',
        'Tourline', 'Trackon', 'Trakpak', 'Trans-o-Flex', 'TransFolha', 'Transaher',
        'TransaragonÃ©s', 'Translink', 'Transoflex', 'Truline', 'Tuffnells', 'TyD', 'UBI',
        'UK MAIL', 'UKMail', 'UPS', 'UPS Freight', 'UPS Mail Innovations', 'UPSMI', 'UPakWeShip',
        'USPS', 'Upsilon', 'Urban Express', 'VIR', 'VNLIN', 'Verage Shipping', 'Via Xpress',
        'WINIT', 'WPX', 'WanbExpress', 'Watkins and Shepard', 'Whistl', 'Whizzard', 'XDP', 'XPO',
        'XPO Freight', 'Xpressbees', 'YAMATO', 'YDH', 'YTO Express', 'YamatoTransport', 'Yanwen',
        'Yellow Freight', 'Yodel', 'Yun Express', 'Yunda Express', 'ZTO Express', 'Zeleris',
        'Zust Ambrosetti', 'geodis', 'honesteye', 'iMile', 'iParcel',
    }
)  # fmt: skip
